"""The ingest port (``C2C_COLLECTOR_INGEST_PORT``): the intake routes only, in a process of its own.

Ingestion is fastest with one thread: a request is a short burst of Python, and with several
threads in one process each request hands the GIL over from one thread to the next, which on a
small machine costs about as much as the request itself (measured here: single records per second
fall by a third from one thread to two, whether the requests overlap or not). The main port needs
its threads: an open live tail (``GET /api/v1/stream``) holds one for minutes, a query over
millions of records holds one while it runs.

So ``serve`` can run a second server, on the ingest port, in a child process with one worker that
ingests one request at a time, inline (see :mod:`rsgi_bridge`; at most 8 held, the others answered
503 with ``Retry-After`` at once: see :mod:`admission`), whose application
(:func:`c2cwsgiutils.collector.http.app.create_ingest_app`) answers ``POST /api/v1/record`` and the
OTLP/HTTP ``POST /v1/logs`` and ``POST /v1/traces`` exactly as the main port does, and a JSON 404 to
anything else. Both processes write to the same database
(SQLite: the storage's ``flock`` and SQLite's own lock take turns between them). The main port
keeps accepting records too.

:class:`IngestListener` is the parent's side: it starts the child and waits until its port
accepts connections (a child that cannot start, say the port is taken, stops ``serve`` before the
main port opens), starts it again if it exits on its own, and stops it when ``serve`` ends. The
child asks the kernel for SIGTERM when its parent dies (``PR_SET_PDEATHSIG``, Linux), so that a
killed parent leaves no listener behind.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from c2cwsgiutils.collector.http.admission import INGEST_PATHS
from c2cwsgiutils.collector.http.api import error_answer, json_bytes
from c2cwsgiutils.collector.http.fast_ingest import RECORD_PATH
from c2cwsgiutils.config import ConfigError

__all__ = ["PARENT_ENV", "IngestListener", "IngestOnly", "die_with_parent"]

LOG = logging.getLogger(__name__)


PARENT_ENV = "_C2C_COLLECTOR_INGEST_PARENT"  # set by the parent for its child: not a setting
START_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
_PR_SET_PDEATHSIG = 1


class IngestOnly:
    """WSGI application: a POST to one of the intake paths (``/api/v1/record``, OTLP's ``/v1/logs``
    and ``/v1/traces``: ``admission.INGEST_PATHS``, which the pending gate guards) goes to ``app``,
    anything else is a JSON 404."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def __getattr__(self, name: str) -> Any:
        return getattr(self.app, name)  # registry and the like, for tools and tests

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") in INGEST_PATHS and environ.get("REQUEST_METHOD") == "POST":
            return self.app(environ, start_response)  # type: ignore[no-any-return]
        answer, _ = error_answer(
            404,
            "not_found",
            f"this port (C2C_COLLECTOR_INGEST_PORT) only takes POST {RECORD_PATH}, /v1/logs and "
            "/v1/traces; everything else is on the collector's main port",
        )
        body = json_bytes(answer)
        start_response(
            "404 Not Found", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        )
        return [body]


def die_with_parent() -> None:
    """In the child: get SIGTERM when the parent ``serve`` dies, and stop now if it is already gone."""
    parent = os.environ.pop(PARENT_ENV, None)
    if parent is None or not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != int(parent):  # the parent died before prctl: no signal would come
        sys.exit(0)


def _connect_host(host: str) -> str:
    """Where to knock to see that a server listening on ``host`` is up."""
    if host in ("", "0.0.0.0", "*"):  # noqa: S104 - an address to connect to, not to bind
        return "127.0.0.1"
    if host in ("::", "[::]"):
        return "::1"
    return host.strip("[]")


class IngestListener:
    """The child process serving the ingest port, as seen from ``serve``."""

    def __init__(self, host: str, port: int, main_port: int) -> None:
        if port == main_port:
            raise ConfigError(
                f"C2C_COLLECTOR_INGEST_PORT={port} is the main port (C2C_COLLECTOR_PORT): "
                "use another port, or 0 for none"
            )
        self.host = host
        self.port = port
        self._lock = threading.Lock()
        self._stopping = False
        self._process: subprocess.Popen[bytes] | None = None
        self._watcher: threading.Thread | None = None
        # gunicorn's workers are forks of serve's process that unwind its stack when they exit: only
        # the process that started the child may stop it.
        self._owner = os.getpid()

    def _spawn(self) -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            "C2C_COLLECTOR_PORT": str(self.port),
            "C2C_COLLECTOR_WORKERS": "1",
            # One request at a time, inline in the event loop (rsgi_bridge); at most 8 held (see
            # settings.pending_gate), the others answered 503 + Retry-After at once.
            "C2C_COLLECTOR_THREADS": "1",
            "C2C_COLLECTOR_MAX_INFLIGHT": "1",
            "C2C_COLLECTOR_INGEST_PORT": "0",
            "C2C_COLLECTOR_RETENTION_DAYS": "0",  # the main port's process runs the retention
            "C2C_COLLECTOR_AUTO_MIGRATE": "false",  # serve migrated before starting anything
            PARENT_ENV: str(os.getpid()),
        }
        argv = [sys.executable, "-m", "c2cwsgiutils.collector.cli", "serve", "--ingest-listener"]
        return subprocess.Popen(argv, env=env)

    def start(self) -> None:
        """Start the child and wait until its port accepts connections; ConfigError if it cannot."""
        process = self._process = self._spawn()
        deadline = time.monotonic() + START_TIMEOUT
        address = (_connect_host(self.host), self.port)
        while True:
            if process.poll() is not None:
                raise ConfigError(
                    f"the ingest listener (C2C_COLLECTOR_INGEST_PORT={self.port}) did not start: "
                    f"exit code {process.returncode}, see its messages above"
                )
            try:
                with socket.create_connection(address, timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise ConfigError(
                        f"the ingest listener (C2C_COLLECTOR_INGEST_PORT={self.port}) did not listen "
                        f"within {START_TIMEOUT:.0f} s"
                    ) from None
                time.sleep(0.05)
        LOG.info(
            "Collector ingest port: http://%s:%d%s, /v1/logs, /v1/traces (POST only)",
            self.host,
            self.port,
            RECORD_PATH,
        )
        self._watcher = threading.Thread(target=self._watch, name="c2c-collector-ingest-watch", daemon=True)
        self._watcher.start()

    def _watch(self) -> None:
        while True:
            process = self._process
            assert process is not None
            code = process.wait()
            time.sleep(1.0)  # no tight loop when the child cannot run
            with self._lock:
                if self._stopping:
                    return
                LOG.error(
                    "The collector's ingest listener (port %d) exited with %s; starting it again",
                    self.port,
                    code,
                )
                self._process = self._spawn()

    def stop(self) -> None:
        """SIGTERM to the child, SIGKILL if it has not stopped after STOP_TIMEOUT seconds."""
        if os.getpid() != self._owner:
            return
        with self._lock:
            self._stopping = True
            process = self._process
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
