"""SQLite: committed records reach the database file through the background checkpoint."""

from __future__ import annotations

import sqlite3
import sys
import time
from pathlib import Path

from c2cwsgiutils.collector.intake import ingest
from c2cwsgiutils.collector.storage.backends import JOURNAL_SIZE_LIMIT, migrate, open_storage
from tests.collector.records import wire
from tests.helpers import wait_for


def _checkpointed(path: Path) -> int:
    # immutable=1 reads the database file alone, ignoring the WAL: only checkpointed pages count.
    connection = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
    try:
        return int(connection.execute("SELECT count(*) FROM c2c_log_record").fetchone()[0])
    except sqlite3.DatabaseError:  # not even the table checkpointed yet, or a page read mid-copy
        # ("database disk image is malformed": immutable=1 promises SQLite that nobody writes the
        # file, while the checkpoint does): the callers poll, the next read sees a whole file.
        return 0
    finally:
        connection.close()


def test_committed_records_are_checkpointed_in_the_background(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    storage = open_storage(f"sqlite:///{path}")
    migrate(storage)
    try:
        now = time.time()
        for batch in range(5):
            storage.insert([ingest.record_to_row(wire(f"{batch}-{i}"), now) for i in range(100)])
        storage.insert([ingest.record_to_row(wire("single"), now)])
        wait_for(lambda: _checkpointed(path) == 501, 20, "501 records checkpointed")
    finally:
        storage.dispose()


def _wal_restarts(path: Path) -> int:
    # The WAL header's checkpoint sequence number: +1 each time a writer starts the WAL over.
    with open(f"{path}-wal", "rb") as wal:
        return int.from_bytes(wal.read(16)[12:16], "big")


def _backfilled(path: Path) -> bool:
    # The wal-index (-shm, native byte order): mxFrame, the last valid frame, at offset 16 of its
    # header; nBackfill, the frames already copied into the database, at offset 96. A writer
    # starts the WAL over only when every frame was copied (the records may be in the database
    # file while an index page still is not).
    data = Path(f"{path}-shm").read_bytes()[:100]
    return int.from_bytes(data[16:20], sys.byteorder) == int.from_bytes(data[96:100], sys.byteorder)


def test_the_wal_starts_over_once_checkpointed_and_stays_small(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    storage = open_storage(f"sqlite:///{path}")
    migrate(storage)
    try:
        now = time.time()
        storage.insert([ingest.record_to_row(wire(f"r{i}"), now) for i in range(2000)])
        wait_for(lambda: _checkpointed(path) == 2000, 20, "2000 records checkpointed")
        wait_for(lambda: _backfilled(path), 20, "the WAL backfilled into the database")
        restarts = _wal_restarts(path)
        storage.insert([ingest.record_to_row(wire("next"), now)])
        assert _wal_restarts(path) == restarts + 1
        # journal_size_limit: a WAL started over is cut back to that size.
        assert (tmp_path / "c.sqlite-wal").stat().st_size <= JOURNAL_SIZE_LIMIT
    finally:
        storage.dispose()
