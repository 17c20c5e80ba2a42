"""Run the test application under a real gunicorn from the venv."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.helpers import ROOT, child_env, free_port, stop_process, wait_for, wait_port

GUNICORN = str(Path(sys.executable).parent / "gunicorn")


@dataclass
class Gunicorn:
    port: int
    master: int
    pid_file: Path
    log: Path

    def get(self, path: str, headers: Mapping[str, str] | None = None) -> object:
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", headers=dict(headers or {}))
        with urllib.request.urlopen(request, timeout=20) as response:
            return json.load(response)


def parent_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("PPid:"):
            return int(line.split()[1])
    raise AssertionError(f"no PPid in /proc/{pid}/status")


def children_of(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if parent_of(int(entry.name)) == pid:
                    found.add(int(entry.name))
            except (OSError, AssertionError):
                continue  # the process ended while we looked
    return found


@contextmanager
def gunicorn(tmp_path: Path, env: Mapping[str, str], workers: int = 2) -> Iterator[Gunicorn]:
    """gunicorn with ``workers`` sync workers serving tests.debug.gunicorn_app; stopped afterwards."""
    port = free_port()
    pid_file = tmp_path / "gunicorn.pid"
    log = tmp_path / "gunicorn.log"
    # Not helpers.start_process(log=...): it leaves the log file open in this process, which
    # pytest reports as an unraisable ResourceWarning.
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [
                GUNICORN,
                "--workers",
                str(workers),
                "--bind",
                f"127.0.0.1:{port}",
                "--pid",
                str(pid_file),
                "--graceful-timeout",
                "5",
                "tests.debug.gunicorn_app:application",
            ],
            env=child_env(env),
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            start_new_session=True,
        )
    try:
        wait_port(port, process=process)
        wait_for(lambda: len(children_of(process.pid)) == workers, message=f"{workers} gunicorn workers")
        yield Gunicorn(port=port, master=process.pid, pid_file=pid_file, log=log)
    finally:
        stop_process(process)
