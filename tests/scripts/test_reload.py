"""c2cwsgiutils_reload against a real gunicorn: the workers are replaced, the master stays."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.debug.server import GUNICORN, children_of, gunicorn
from tests.helpers import ROOT, child_env, free_port, stop_process, wait_for, wait_port

BIN = Path(sys.executable).parent


def run_reload(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "c2cwsgiutils_reload"), *args],
        env=child_env(env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.slow
def test_reload_replaces_the_workers_and_keeps_the_master(tmp_path: Path) -> None:
    with gunicorn(tmp_path, {}) as server:
        before = children_of(server.master)
        served_before = server.get("/whoami")
        result = run_reload("--pid-file", str(server.pid_file), "--wait", "30")
        assert result.returncode == 0, result.stderr
        after = children_of(server.master)
        assert len(after) == 2
        assert not before & after
        assert f"gunicorn master {server.master}" in result.stderr
        # The master still listens and its new workers serve.
        served_after = server.get("/whoami")
        assert served_before["pid"] in before  # type: ignore[index]
        assert served_after["pid"] in after  # type: ignore[index]


@pytest.mark.slow
def test_reload_finds_the_pid_file_from_the_environment(tmp_path: Path) -> None:
    with gunicorn(tmp_path, {}, workers=1) as server:
        before = children_of(server.master)
        result = run_reload(env={"C2C_GUNICORN_PID_FILE": str(server.pid_file)})
        assert result.returncode == 0, result.stderr
        wait_for(
            lambda: children_of(server.master) and not children_of(server.master) & before,
            message="new worker",
        )
        assert os.path.exists(f"/proc/{server.master}")


def test_reload_refuses_to_signal_a_process_that_is_not_gunicorn() -> None:
    result = run_reload("--pid", str(os.getpid()))
    assert result.returncode == 1
    assert f"process {os.getpid()} is not a running gunicorn" in result.stderr


def test_reload_reports_an_unreadable_pid_file(tmp_path: Path) -> None:
    result = run_reload("--pid-file", str(tmp_path / "missing.pid"))
    assert result.returncode == 1
    assert "cannot read a PID from" in result.stderr


@pytest.mark.slow
def test_reload_without_options_signals_gunicorn_running_as_pid_1(tmp_path: Path) -> None:
    # The container case: gunicorn is PID 1 of its own PID namespace (unshare), and the command
    # runs inside that namespace (nsenter), with no option at all.
    port = free_port()
    with open(tmp_path / "gunicorn.log", "wb") as log:
        namespace = subprocess.Popen(
            [
                "unshare",
                "--pid",
                "--fork",
                "--mount-proc",
                GUNICORN,
                "--workers",
                "2",
                "--bind",
                f"127.0.0.1:{port}",
                "tests.debug.gunicorn_app:application",
            ],
            env=child_env(),
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_port(port, process=namespace)
        wait_for(lambda: len(children_of(namespace.pid)) == 1, message="gunicorn started in its namespace")
        [master] = children_of(namespace.pid)
        wait_for(lambda: len(children_of(master)) == 2, message="2 gunicorn workers")
        before = children_of(master)
        result = subprocess.run(
            [
                "nsenter",
                "--target",
                str(master),
                "--pid",
                "--mount",
                str(BIN / "c2cwsgiutils_reload"),
                "--wait",
                "30",
            ],
            env=child_env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert "gunicorn master 1;" in result.stderr
        after = children_of(master)
        assert len(after) == 2
        assert not before & after
    finally:
        stop_process(namespace)


def test_reload_refuses_a_process_that_only_mentions_gunicorn() -> None:
    code = "import time; print('up', flush=True); time.sleep(30)"
    other = subprocess.Popen([sys.executable, "-c", code, "gunicorn.conf.py"], stdout=subprocess.PIPE)
    try:
        assert other.stdout is not None
        assert other.stdout.readline() == b"up\n"
        result = run_reload("--pid", str(other.pid))
    finally:
        other.kill()
        other.wait()
        assert other.stdout is not None
        other.stdout.close()
    assert result.returncode == 1
    assert f"process {other.pid} is not a running gunicorn" in result.stderr
