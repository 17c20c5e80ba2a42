"""SQLite faults: a database file deleted or replaced under a running collector, a read-only one."""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from c2cwsgiutils.collector.intake import ingest
from c2cwsgiutils.collector.storage.backends import migrate, open_storage
from c2cwsgiutils.collector.storage.outage import storage_errors
from c2cwsgiutils.collector.storage.retention import RetentionThread
from tests.collector.records import ndjson, wire
from tests.collector.serve import serve_collector
from tests.helpers import child_env, free_port, wait_for


def _post(port: int, *messages: str) -> tuple[int, dict[str, object]]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    body = ndjson(*(wire(message) for message in messages))
    connection.request("POST", "/api/v1/record", body, {"Content-Type": "application/x-ndjson"})
    response = connection.getresponse()
    answer = json.loads(response.read())
    connection.close()
    return response.status, answer


def test_a_deleted_database_file_acknowledges_nothing(tmp_path: Path) -> None:
    with serve_collector(tmp_path) as port:
        assert _post(port, "before", "before too")[0] == 201
        (tmp_path / "c.sqlite").unlink()
        after = [_post(port, f"after {n}") for n in range(3)]
    assert [(status, answer["type"]) for status, answer in after] == [(503, "storage_unavailable")] * 3
    log = (tmp_path / "server.log").read_text(encoding="utf-8", errors="replace")
    assert log.count(f"The SQLite database {tmp_path / 'c.sqlite'} was deleted while the collector ran") == 1
    assert "Traceback" not in log, log[-3000:]


def test_a_replaced_database_file_refuses_what_went_to_the_old_one(tmp_path: Path) -> None:
    with serve_collector(tmp_path) as port:
        assert _post(port, "before")[0] == 201
        database = tmp_path / "c.sqlite"
        os.rename(database, tmp_path / "old.sqlite")
        shutil.copyfile(tmp_path / "old.sqlite", database)  # another file (inode) at the path
        status, answer = _post(port, "after")
    assert (status, answer["type"]) == (503, "storage_unavailable")
    log = (tmp_path / "server.log").read_text(encoding="utf-8", errors="replace")
    assert "was replaced by another file while the collector ran" in log


@contextlib.contextmanager
def _read_only(path: Path) -> Iterator[None]:
    """Make ``path`` unwritable, for root too (the immutable attribute) or by its mode otherwise."""
    if os.geteuid() != 0:
        mode = path.stat().st_mode
        path.chmod(0o555 if path.is_dir() else 0o444)
        try:
            yield
        finally:
            path.chmod(mode)
        return
    result = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        pytest.skip(f"cannot make {path} read-only for root here (chattr: {result.stderr.strip()})")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=False)


def _serve_exit(db_url: str) -> subprocess.CompletedProcess[str]:
    command = [
        str(Path(sys.executable).parent / "c2cwsgiutils-logs"),
        *("serve", "--port", str(free_port()), "--db-url", db_url),
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, env=child_env(), check=False)


@pytest.mark.parametrize("what", ["file", "directory"])
def test_a_read_only_database_is_refused_at_start(tmp_path: Path, what: str) -> None:
    directory = tmp_path / "db"
    directory.mkdir()
    database = directory / "c.sqlite"
    migrate(f"sqlite:///{database}")
    for leftover in directory.glob("c.sqlite-*"):
        leftover.unlink()
    target = database if what == "file" else directory
    with _read_only(target):
        result = _serve_exit(f"sqlite:///{database}")
        assert result.returncode == 2, result.stderr[-2000:]
        expected = "is read-only" if what == "file" else "is not writable"
        assert expected in result.stderr, result.stderr[-2000:]
        assert "Traceback" not in result.stderr


def test_background_threads_meeting_a_deleted_file_say_so_once_and_create_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    database = tmp_path / "c.sqlite"
    storage = open_storage(f"sqlite:///{database}")
    try:
        migrate(storage)
        storage.insert([ingest.record_to_row(wire("before"), time.time())])
        database.unlink()
        caplog.set_level(logging.INFO, logger="c2cwsgiutils.collector")
        retention = RetentionThread(storage, days=1, batch=10, interval=0.05)
        retention.start()
        outage = "Retention: purge: the storage is unavailable (unable to open database file)"
        wait_for(lambda: outage in caplog.text, 20, "the retention thread's outage line")
        retention.stop()
        with pytest.raises(storage_errors()):
            storage.count(sa.true())  # a reader does not create an empty database either
    finally:
        storage.dispose()
    assert not database.exists(), "a connection created an empty database where the deleted one was"
    lines = [record for record in caplog.records if record.name == "c2cwsgiutils.collector.storage.retention"]
    assert len(lines) == 1, [record.getMessage() for record in lines]
    assert lines[0].exc_info is None
    assert outage in lines[0].getMessage()
