"""A private PostgreSQL server for one test module, logging every slow statement to files.

The machine's shared server keeps its configuration: this one is a fresh ``initdb`` in a temporary
directory, on a free port with its unix socket in that directory, configured like a production
server whose logs are shipped to the collector: ``logging_collector = on`` writing ``jsonlog``,
``csvlog`` and a plain ``stderr`` file (``log_line_prefix`` with ``%a``, the application name).
``initdb`` refuses to run as root: as root, every server command runs as the ``postgres`` user.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

PG_BIN = Path(os.environ.get("C2C_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
SERVER_USER = "postgres"


def missing_reason() -> str | None:
    """Why no private server can be started here (``None`` when it can)."""
    for tool in ("initdb", "pg_ctl", "postgres"):
        if not (PG_BIN / tool).exists():
            return f"PostgreSQL 15 binaries not found in {PG_BIN} (set C2C_TEST_PG_BIN): no {tool}"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SERVER_USER)
        except KeyError:
            return f"running as root and there is no {SERVER_USER!r} user to run initdb as"
    return None


@dataclass(frozen=True)
class PrivatePostgres:
    """A running private server: where it listens and where it logs."""

    directory: Path
    port: int

    @property
    def log_dir(self) -> Path:
        return self.directory / "log"

    @property
    def json_log(self) -> Path:
        """The ``jsonlog`` file (PostgreSQL adds ``.json`` to ``log_filename``)."""
        return self.log_dir / "postgresql.json"

    @property
    def csv_log(self) -> Path:
        return self.log_dir / "postgresql.csv"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SERVER_USER}@127.0.0.1:{self.port}/{database}"


def _as_server_user(command: Sequence[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", SERVER_USER, "--", *command]
    return list(command)


def _run(command: Sequence[str]) -> None:
    result = subprocess.run(_as_server_user(command), capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"`{' '.join(command)}` failed ({result.returncode}):\n{result.stderr}")


@contextlib.contextmanager
def private_postgres(port: int, slow_ms: int) -> Iterator[PrivatePostgres]:
    """Start a server on ``port`` that logs every statement slower than ``slow_ms``; stop and delete it after.

    The directory is made with ``tempfile`` (not pytest's ``tmp_path``, whose parents are private to
    the current user): the server user must reach it.
    """
    directory = Path(tempfile.mkdtemp(prefix="c2c-private-pg-"))
    if os.geteuid() == 0:
        shutil.chown(directory, SERVER_USER)
    data = directory / "data"
    settings = {
        "port": str(port),
        "listen_addresses": "127.0.0.1",
        "unix_socket_directories": str(directory),
        "fsync": "off",
        "logging_collector": "on",
        "log_destination": "jsonlog,csvlog,stderr",
        "log_directory": str(directory / "log"),
        "log_filename": "postgresql",
        "log_file_mode": "0644",
        "log_min_duration_statement": str(slow_ms),
        "log_line_prefix": "%m [%p] app=%a ",
    }
    try:
        _run([str(PG_BIN / "initdb"), "-D", str(data), "-U", SERVER_USER, "--auth=trust", "--no-sync"])
        # Appended to the generated file: the last value of a setting wins.
        with open(data / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.writelines(f"{key} = '{value}'\n" for key, value in settings.items())
        server_log = directory / "server.log"
        try:
            _run([str(PG_BIN / "pg_ctl"), "-D", str(data), "-w", "-l", str(server_log), "start"])
        except RuntimeError as error:
            raise RuntimeError(f"{error}\n{server_log.read_text(errors='replace')}") from None
        try:
            yield PrivatePostgres(directory, port)
        finally:
            _run([str(PG_BIN / "pg_ctl"), "-D", str(data), "-w", "-m", "fast", "stop"])
    finally:
        shutil.rmtree(directory, ignore_errors=True)
