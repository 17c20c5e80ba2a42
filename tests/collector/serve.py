"""Start a real collector (``c2cwsgiutils-logs serve``) on SQLite for a test, and stop it after."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

from tests.helpers import free_port, start_process, stop_process, wait_port


@contextlib.contextmanager
def serve_collector(
    directory: Path, *args: str, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> Iterator[int]:
    """Serve a collector with its database and log (``server.log``) in ``directory``; yields its port.

    ``args`` go to ``serve`` (e.g. ``"--workers", "2"``); the process is stopped at the end of the block.
    """
    port = free_port()
    command = [
        str(Path(sys.executable).parent / "c2cwsgiutils-logs"),
        "serve",
        "--port",
        str(port),
        "--db-url",
        f"sqlite:///{directory / 'c.sqlite'}",
        *args,
    ]
    process = start_process(command, env=env, log=directory / "server.log", cwd=cwd)
    try:
        wait_port(port, timeout=30, process=process)
        yield port
    finally:
        stop_process(process)
