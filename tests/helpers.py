"""Helpers for tests that run real processes and servers."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, timeout: float = 20.0, process: subprocess.Popen[bytes] | None = None) -> None:
    """Wait until something accepts connections on 127.0.0.1:port; fail early if ``process`` died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listened on 127.0.0.1:{port} within {timeout}s")


def wait_for(predicate: Callable[[], object], timeout: float = 20.0, message: str = "condition") -> None:
    """Poll ``predicate`` until it returns something true; AssertionError naming ``message`` after
    ``timeout`` seconds. The predicate is called at least once, even with a zero timeout."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{message} not reached within {timeout} s")
        time.sleep(0.05)


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a child process: this one, with the repo on PYTHONPATH, plus ``extra``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    env.setdefault("PYTHONUNBUFFERED", "1")
    if extra:
        env.update(extra)
    return env


def redis_server_argv(port: int) -> list[str]:
    """A private, throw-away ``redis-server`` on 127.0.0.1:``port`` (nothing saved to disk)."""
    return ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"]


def start_process(
    args: Sequence[str],
    env: Mapping[str, str] | None = None,
    log: Path | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``args`` (``python`` is replaced by this interpreter) in its own process group."""
    argv = [sys.executable if args[0] == "python" else args[0], *args[1:]]
    environ, directory = child_env(env), cwd or ROOT
    if log is None:
        return subprocess.Popen(
            argv,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            env=environ,
            cwd=directory,
            start_new_session=True,
        )
    # The child keeps its own copy of the descriptor: ours is closed at once.
    with open(log, "ab") as out:
        return subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, env=environ, cwd=directory, start_new_session=True
        )


def stop_process(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """Terminate the process group, then kill it if it did not stop in time."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout)
    except ProcessLookupError:
        pass


def start_celery_worker(
    app: str, queue: str, env: Mapping[str, str], log: Any, pool: str = "prefork", concurrency: int = 2
) -> subprocess.Popen[bytes]:
    """``celery -A app worker`` on ``queue`` (its own process group), quiet (no gossip, mingle nor
    heartbeat), its output to the binary file ``log``, with ``env`` added to this environment."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            app,
            "worker",
            "--pool",
            pool,
            "--concurrency",
            str(concurrency),
            "-Q",
            queue,
            "-n",
            f"{pool}-{uuid.uuid4().hex[:6]}@%h",
            "-l",
            "INFO",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        env=child_env(env),
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
        start_new_session=True,
    )
