"""Retention: old records are deleted in batches, recent ones kept."""

from __future__ import annotations

import time
from pathlib import Path

from c2cwsgiutils.collector.intake import ingest
from c2cwsgiutils.collector.query.filters import build_filter
from c2cwsgiutils.collector.storage.backends import migrate, open_storage
from c2cwsgiutils.collector.storage.retention import RetentionThread, purge_once
from tests.collector.records import wire
from tests.helpers import wait_for


def test_purge_deletes_only_records_older_than_the_retention(tmp_path: Path) -> None:
    storage = open_storage(f"sqlite:///{tmp_path / 'r.sqlite'}")
    migrate(storage)
    now = time.time()
    old = [ingest.record_to_row(wire(created=now - 10 * 86400), now) for _ in range(25)]
    recent = [ingest.record_to_row(wire(created=now - 3600), now) for _ in range(5)]
    storage.insert(old + recent)
    deleted = purge_once(storage, days=7, batch=10, pause=0)
    assert (deleted, storage.count(build_filter({}, "sqlite"))) == (25, 5)
    storage.dispose()


def test_retention_thread_purges_in_the_background(db_url: str) -> None:
    storage = open_storage(db_url)
    migrate(storage)
    now = time.time()
    storage.insert([ingest.record_to_row(wire(created=now - 2 * 86400), now) for _ in range(3)])
    thread = RetentionThread(storage, days=1, batch=2, interval=0.05)
    thread.start()
    wait_for(lambda: storage.count(build_filter({}, storage.dialect)) == 0, 10, "the old records deleted")
    thread.stop()
    storage.dispose()
