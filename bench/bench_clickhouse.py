"""The collector's storage on embedded ClickHouse (chdb) against SQLite (and PostgreSQL), one run.

    .venv/bin/python bench/bench_clickhouse.py [--records 1000000] [--batch 5000] [--pg] [--reps 7]

Through the collector's ``Storage`` interface (what the API calls, idempotency on ``uuid``
included; HTTP parsing is measured by bench_collector.py), at ``--records`` records spread over
one day from 8 services:

- ingestion rate (records/s, batches of ``--batch`` rows),
- bytes per record on disk (SQLite: the database files; ClickHouse: its active parts; PostgreSQL:
  ``pg_total_relation_size``),
- the request view (``by_request``: every record of one request id and of its traces),
- a count with a level filter, the hourly timeline of the day (the UI's histogram),
- a full-text word search (``message ~ "word"``, a word found once in 100,000 records),

as medians of ``--reps`` runs, each backend's figures side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from c2cwsgiutils.collector.query.filters import build_filter  # noqa: E402
from c2cwsgiutils.collector.storage.backends import Storage, migrate, open_storage  # noqa: E402

DAY_US = 86_400_000_000
START_US = 1_763_769_600_000_000  # 2025-11-22T00:00:00Z
SERVICES = [f"service-{i}" for i in range(8)]
HOSTS = [f"web-{i}" for i in range(6)]
LOGGERS = ("app.views", "app.db", "celery.worker", "sqlalchemy.engine", "app.auth", "c2cwsgiutils.spans")
LEVELS = (10, 20, 20, 20, 20, 30, 40)
WORDS = [
    "user",
    "order",
    "item",
    "cache",
    "miss",
    "hit",
    "query",
    "slow",
    "fast",
    "retry",
    "timeout",
    "connection",
    "accepted",
    "closed",
]
RARE_EVERY = 100_000


def make_batches(count: int, batch: int, seed: int = 7) -> Iterator[tuple[list[tuple[Any, ...]], list[str]]]:
    """``count`` rows in INSERT_COLUMNS order, oldest first, by batches of ``batch`` (the same rows
    for the same arguments: made again for each backend rather than kept, 10M rows take GBs), each
    with the request ids to look up that it holds."""
    rng = random.Random(seed)
    request_id = trace_id = ""
    rows: list[tuple[Any, ...]] = []
    request_ids: list[str] = []
    for index in range(count):
        if index % 10 == 0:  # a request: 10 records
            request_id = uuid.UUID(int=rng.getrandbits(128)).hex
            trace_id = uuid.UUID(int=rng.getrandbits(128)).hex
            if index % 50_000 == 0:
                request_ids.append(request_id)
        words = " ".join(rng.choice(WORDS) for _ in range(6))
        message = f"{words} id={index}" + (" zanzibar" if index % RARE_EVERY == 1234 else "")
        data = {
            "file": "/app/views.py",
            "line": index % 500,
            "user_id": index % 1000,
            "duration_ms": index % 97,
        }
        rows.append(
            (
                uuid.UUID(int=rng.getrandbits(128)).hex,
                START_US + index * DAY_US // count,
                rng.choice(LEVELS),
                rng.choice(LOGGERS),
                message,
                rng.choice(HOSTS),
                SERVICES[(index // 10) % len(SERVICES)],
                request_id,
                trace_id,
                f"{index:016x}",
                None,
                None,
                "web",
                json.dumps(data),
            )
        )
        if len(rows) == batch:
            yield rows, request_ids
            rows, request_ids = [], []
    if rows:
        yield rows, request_ids


def make_rows(count: int, seed: int = 7) -> tuple[list[tuple[Any, ...]], list[str]]:
    """``count`` rows at once, and the request ids to look up (small runs and profiles)."""
    rows: list[tuple[Any, ...]] = []
    request_ids: list[str] = []
    for part, ids in make_batches(count, 10_000, seed):
        rows.extend(part)
        request_ids.extend(ids)
    return rows, request_ids


def _median_ms(function: Callable[[], object], reps: int) -> float:
    function()  # warm
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        function()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def _bytes(storage: Storage, url: str) -> int:
    if storage.dialect == "sqlite":
        path = url.removeprefix("sqlite:///")
        return sum(os.path.getsize(p) for p in (path, path + "-wal") if os.path.exists(p))
    if storage.dialect == "postgresql":
        with storage.reader.connect() as connection:
            import sqlalchemy as sa

            return int(
                connection.execute(sa.text("SELECT pg_total_relation_size('c2c_log_record')")).scalar_one()
            )
    return int(storage.storage_bytes() or 0)  # type: ignore[attr-defined]


def run(url: str, count: int, batch: int, reps: int) -> dict[str, float]:
    storage = open_storage(url)
    migrate(storage)
    elapsed = 0.0
    request_ids: list[str] = []
    for rows, ids in make_batches(count, batch):
        request_ids.extend(ids)
        start = time.perf_counter()
        storage.insert(rows)
        elapsed += time.perf_counter() - start
    if storage.dialect == "clickhouse":
        # Let the background merges settle before sizing (parts of 5000 rows compress worse).
        storage.client.command(f"OPTIMIZE TABLE {storage.table} FINAL")  # type: ignore[attr-defined]
    dialect = storage.dialect
    level = build_filter({"level": "ERROR"}, dialect)
    day = build_filter({"after": str(START_US / 1e6), "before": str((START_US + DAY_US) / 1e6)}, dialect)
    word = build_filter({"query": 'message ~ "zanzibar"'}, dialect)
    lookups = iter(request_ids * (reps + 2))
    figures = {
        "insert_rows_per_s": count / elapsed,
        "bytes_per_record": _bytes(storage, url) / count,
        "request_view_ms": _median_ms(lambda: storage.by_request(next(lookups), 1000), reps),
        "count_level_ms": _median_ms(lambda: storage.count(level), reps),
        "hourly_timeline_ms": _median_ms(lambda: storage.buckets(day, 900), reps),
        "word_search_ms": _median_ms(lambda: storage.range(word, 0, 100), reps),
    }
    found = len(storage.range(word, 0, 100))
    assert found == min(100, count // RARE_EVERY + (1 if count % RARE_EVERY > 1234 else 0)), found
    assert len(storage.by_request(request_ids[0], 1000)) == 10
    storage.dispose()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--pg", action="store_true", help="also PostgreSQL (C2C_TEST_PG_URL, a new database)")
    parser.add_argument("--no-sqlite", action="store_true", help="ClickHouse (and --pg) only")
    args = parser.parse_args()
    results: dict[str, dict[str, float]] = {}

    def done(name: str, figures: dict[str, float]) -> None:
        results[name] = figures
        # Each backend's figures as soon as it is measured (a 10M run takes the better part of an hour).
        print(name, {key: round(value, 1) for key, value in figures.items()}, file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="bench-clickhouse-") as directory:
        done("clickhouse (chdb)", run(f"chdb://{directory}/chdb", args.records, args.batch, args.reps))
        if not args.no_sqlite:
            done("sqlite", run(f"sqlite:///{directory}/c.sqlite", args.records, args.batch, args.reps))
        if args.pg:
            done("postgresql", _run_pg(args))
    names = list(results)
    print(f"{args.records:,} records, batches of {args.batch}, medians of {args.reps}")
    print(f"{'':22}" + "".join(f"{name:>20}" for name in names))
    for key in results[names[0]]:
        print(f"{key:22}" + "".join(f"{results[name][key]:>20,.1f}" for name in names))


def _run_pg(args: argparse.Namespace) -> dict[str, float]:
    import psycopg2

    admin_url = os.environ.get("C2C_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    name = f"c2c_bench_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(admin_url)
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    try:
        return run(admin_url.rsplit("/", 1)[0] + f"/{name}", args.records, args.batch, args.reps)
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


if __name__ == "__main__":
    main()
