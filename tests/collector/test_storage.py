"""Storage: group commit under concurrent writers, idempotency across them, both backends."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from c2cwsgiutils.collector.intake import ingest
from c2cwsgiutils.collector.query.filters import build_filter
from c2cwsgiutils.collector.storage.backends import (
    InsertResult,
    SQLiteStorage,
    Storage,
    migrate,
    open_storage,
)
from c2cwsgiutils.collector.wire import Row
from tests.collector.records import wire
from tests.helpers import wait_for


@pytest.fixture
def storage(db_url: str) -> Iterator[Storage]:
    """A migrated storage of ``db_url``, disposed of after the test (also when it fails)."""
    opened = open_storage(db_url)
    migrate(opened)
    yield opened
    opened.dispose()


def _rows(prefix: str, count: int) -> list[Row]:
    """Rows of ``count`` records with the uuids ``<prefix>0``, ``<prefix>1`` ..."""
    now = time.time()
    return [ingest.record_to_row(wire(f"{prefix}{i}"), now) for i in range(count)]


def test_concurrent_writers_store_every_record_once(storage: Storage) -> None:
    rows = _rows("r", 200)
    results: list[InsertResult] = []
    lock = threading.Lock()

    def send(part: list[tuple[object, ...]]) -> None:
        for row in part:
            result = storage.insert([row])
            with lock:
                results.append(result)

    # Every row is sent twice, by two different threads: one is stored, the other a duplicate.
    threads = [threading.Thread(target=send, args=(rows[i::4] * 2,)) for i in range(4)]
    threads += [threading.Thread(target=send, args=(rows[(i + 1) % 4 :: 4],)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stored = sum(result.stored for result in results)
    duplicates = sum(result.duplicates for result in results)
    assert (stored, duplicates, storage.count(build_filter({}, storage.dialect))) == (200, 400, 200)


def test_single_insert_returns_the_id_of_the_stored_or_existing_row(storage: Storage) -> None:
    row = ingest.record_to_row(wire("once"), time.time())
    first = storage.insert([row])
    again = storage.insert([row])
    assert (first.stored, again.duplicates, again.first_id) == (1, 1, first.first_id)


def test_single_rows_queued_behind_a_writer_are_stored_together(storage: Storage) -> None:
    rows = _rows("q", 3)
    results: list[InsertResult] = []
    threads = [threading.Thread(target=lambda row=row: results.append(storage.insert([row]))) for row in rows]
    if storage.dialect == "sqlite":
        assert isinstance(storage, SQLiteStorage)
        with storage._exclusive():  # what the checkpointer takes: every writer waits
            for thread in threads:
                thread.start()
            wait_for(lambda: len(storage._pending) == len(rows), 10, "every writer queued")
    else:
        for thread in threads:
            thread.start()
    for thread in threads:
        thread.join()
    assert sorted(result[:2] for result in results) == [(1, 0)] * 3
    assert len({result.first_id for result in results}) == 3
    assert storage.count(build_filter({}, storage.dialect)) == 3


def test_a_failed_single_insert_leaves_the_storage_writable(storage: Storage) -> None:
    row = ingest.record_to_row(wire("after"), time.time())
    bad = (None, None, *row[2:])  # time_us is NOT NULL
    with pytest.raises(Exception, match=r"(?i)null"):  # the driver's IntegrityError
        storage.insert([bad])
    assert storage.insert([row]).stored == 1
    assert storage.count(build_filter({}, storage.dialect)) == 1


def test_range_count_buckets_equal_grouped_buckets(storage: Storage) -> None:
    now = time.time()
    base = 1_763_800_000.0
    offsets = [0, 1, 59, 60, 899, 900, 3599, 3600, 7200, 86_399, 86_400, 200_000]
    storage.insert(
        [
            ingest.record_to_row(wire(created=base + offset, levelno=10 + i % 3 * 10), now)
            for i, offset in enumerate(offsets)
        ]
    )
    for params in ({}, {"level": "20"}):
        where = build_filter(params, storage.dialect)
        for seconds in (60, 900):
            with storage.reader.connect() as connection:
                grouped = storage._grouped_buckets(connection, where, seconds)
            assert storage.buckets(where, seconds) == grouped


def test_single_rows_keep_every_pattern_of_missing_correlation_fields(storage: Storage) -> None:
    # More patterns of NULL columns than the SQLite backend keeps statements for (64): every row,
    # written one by one, reads back with its own values and NULLs.
    names = ("host", "service", "request_id", "trace_id", "span_id", "parent_span_id", "task_id")
    expected = {}
    for pattern in range(2 ** len(names)):
        fields = {name: f"{name}-{pattern}" for bit, name in enumerate(names) if pattern >> bit & 1}
        record = wire(f"pattern {pattern}", **fields)
        for name in names:
            record.pop(name, None)
        record.update(fields)
        result = storage.insert([ingest.record_to_row(record, time.time())])
        assert result.stored == 1
        expected[result.first_id] = {name: fields.get(name) for name in names}
    got = {
        row["id"]: {name: row[name] for name in names}
        for row in storage.range(build_filter({}, storage.dialect), 0, 1000)
    }
    assert got == expected


def test_a_batch_keeps_its_order_and_every_pattern_of_missing_fields(storage: Storage) -> None:
    # One insert of rows whose NULL columns change from row to row and in runs: each reads back
    # with its own values and NULLs, with ids in the order of the batch.
    names = ("host", "request_id", "trace_id", "task_id")
    patterns = [pattern for pattern in range(2 ** len(names)) for _ in range(1 + pattern % 3)]
    rows, expected = [], []
    for number, pattern in enumerate(patterns):
        fields = {name: f"{name}-{number}" for bit, name in enumerate(names) if pattern >> bit & 1}
        record = wire(f"row {number}", **{name: fields.get(name, "") for name in names})
        rows.append(ingest.record_to_row(record, time.time()))
        expected.append((f"row {number}", *(fields.get(name) for name in names)))
    assert storage.insert(rows) == InsertResult(len(rows), 0)
    assert storage.insert(rows) == InsertResult(0, len(rows))
    stored = sorted(storage.range(build_filter({}, storage.dialect), 0, 1000), key=lambda row: row["id"])
    assert [(row["message"], *(row[name] for name in names)) for row in stored] == expected


def test_long_runs_of_a_batch_keep_their_order_values_and_duplicates(storage: Storage) -> None:
    # Runs longer than one many-row INSERT (64 rows) and of every remainder, one record sent twice
    # in the same batch: the second copy is a duplicate, the rest reads back in the batch's order.
    rows, expected = [], []
    number = 0
    for run, length in enumerate((1, 64, 127, 200, 3, 65)):
        for _ in range(length):
            task_id = f"task-{number}" if run % 2 else ""
            record = wire(f"row {number}", task_id=task_id, user_id=number)
            rows.append(ingest.record_to_row(record, time.time()))
            expected.append((f"row {number}", task_id or None))
            number += 1
    rows.insert(100, rows[30])
    assert storage.insert(rows) == InsertResult(len(rows) - 1, 1)
    stored = sorted(storage.range(build_filter({}, storage.dialect), 0, 1000), key=lambda row: row["id"])
    assert [(row["message"], row["task_id"]) for row in stored] == expected
