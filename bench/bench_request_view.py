"""Latency of the request view and of the requests list with many stored records (SQLite, PostgreSQL).

    .venv/bin/python bench/bench_request_view.py [--records 1000000] [--reps 7] [--no-pg]

Stores ``--records`` background records (ten per request id, over 30 days), then 20 requests of
500 spans each (a root web span event, 499 SQL span events of which 20 repeat one statement; 19
log lines) in the last hour, and 2,000 other root web span events over that hour. Then times,
in-process through the collector's WSGI application (WebTest: no network), the median of
``--reps`` calls (wall time, and this process's CPU time, which other jobs on a shared machine
change least) of:

- ``GET /api/v1/request/{id}`` of one of the 500-span requests (the issue's target: < 50 ms);
- ``GET /api/v1/requests?after=1h&sort=duration`` (the slowest of the last hour);
- ``GET /api/v1/routes?after=1h``.

The databases are kept under ``bench/.peers/data`` (``request-view-N.sqlite``; PostgreSQL: the
database ``c2c_bench_request_view_N``, drop it when done) and reused by the next run with the
same ``--records``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DATA = ROOT / "bench" / ".peers" / "data"
SPANS = 500
REQUESTS = 20
OTHERS = 2000
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def _wire(created: float, message: str, **fields: Any) -> dict[str, Any]:
    record = {
        "uuid": uuid.uuid4().hex,
        "created": created,
        "levelno": 20,
        "level_name": "INFO",
        "msg": message,
        "logger_name": "app.views",
        "host": "web-1",
        "service": "shop",
        "kind": "web",
    }
    record.update(fields)
    return record


def _request_records(number: int, now: float) -> list[dict[str, Any]]:
    request_id = f"bench-request-{number}"
    trace_id = f"{number + 1:032x}"
    root = f"{number + 1:016x}"
    start = now - 3000 + number * 60
    common = {"request_id": request_id, "trace_id": trace_id}
    records = []
    for index in range(SPANS - 1):
        statement = f"SELECT a{index} FROM t WHERE id = ?"
        if index < 20:
            statement = "SELECT * FROM price WHERE id = ?"
        records.append(
            _wire(
                start + index * 0.001,
                "span sql ok in 0.800 ms",
                logger_name="c2cwsgiutils.spans",
                span_id=f"{number + 1:08x}{index:08x}",
                parent_span_id=root,
                span_name="sql",
                span_kind="sql",
                sql=statement,
                duration_ms=0.8 if index != 7 else 120.0,
                start=start + index * 0.001 - 0.0008,
                status="ok",
                **common,
            )
        )
    for index in range(19):
        records.append(_wire(start + index * 0.02, f"log line {index}", span_id=root, **common))
    records.append(
        _wire(
            start + 0.6,
            "span request ok in 600.000 ms",
            logger_name="c2cwsgiutils.spans",
            span_id=root,
            span_name="request",
            method="GET",
            route="item",
            status_code=200,
            duration_ms=600.0,
            start=start,
            status="ok",
            **common,
        )
    )
    return records


def _others(now: float) -> list[dict[str, Any]]:
    return [
        _wire(
            now - 3500 + index * 1.5,
            "span request ok",
            logger_name="c2cwsgiutils.spans",
            request_id=f"other-{index}",
            trace_id=f"{index + 10_000:032x}",
            span_id=f"{index + 10_000:016x}",
            span_name="request",
            method="GET",
            route=("home", "list", "item", "save")[index % 4],
            status_code=500 if index % 97 == 0 else 200,
            duration_ms=float(5 + index % 200),
            start=now - 3500 + index * 1.5,
            status="ok",
        )
        for index in range(OTHERS)
    ]


def load(db_url: str, records: int) -> None:
    import sqlalchemy as sa

    from c2cwsgiutils.collector.intake import ingest
    from c2cwsgiutils.collector.query.filters import build_filter
    from c2cwsgiutils.collector.storage.backends import migrate, open_storage

    storage = open_storage(db_url)
    migrate(storage)
    existing = storage.count(build_filter({}, storage.dialect))
    now = time.time()
    start, step = now - 30 * 86400, 30 * 86400 / records
    if existing < records:
        print(f"# loading {records - existing} background records into {db_url}", file=sys.stderr, flush=True)
    for begin in range(existing, records, 10_000):
        rows = [
            ingest.record_to_row(
                _wire(start + i * step, f"message {i}", request_id=f"{i // 10:032x}", user_id=i % 1000),
                now,
            )
            for i in range(begin, min(records, begin + 10_000))
        ]
        storage.insert(rows)
    # The requests and the other root spans: again at each run, in the last hour.
    fresh = [row for number in range(REQUESTS) for row in _request_records(number, now)] + _others(now)
    with storage.engine.begin() as connection:
        connection.execute(
            sa.text("DELETE FROM c2c_log_record WHERE request_id LIKE :a OR request_id LIKE :b"),
            {"a": "bench-request-%", "b": "other-%"},
        )
    for begin in range(0, len(fresh), 5000):
        storage.insert([ingest.record_to_row(record, now) for record in fresh[begin : begin + 5000]])
    if storage.dialect == "postgresql":
        with storage.engine.connect() as connection:
            connection.exec_driver_sql("ANALYZE c2c_log_record")
            connection.commit()
    storage.dispose()


def measure(db_url: str, reps: int) -> dict[str, tuple[float, float]]:
    import webtest

    from c2cwsgiutils.collector.http.app import create_app
    from c2cwsgiutils.collector.http.app_state import get_state

    app = webtest.TestApp(create_app({"c2c.collector.db_url": db_url}))
    after = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3600))
    paths = {
        f"request view ({SPANS} spans)": "/api/v1/request/bench-request-3",
        "requests, slowest of 1 h": f"/api/v1/requests?after={after}&sort=duration",
        "routes p50/p95/p99, 1 h": f"/api/v1/routes?after={after}",
    }
    answer = app.get(paths[f"request view ({SPANS} spans)"]).json
    assert len(answer["spans"]) == SPANS, len(answer["spans"])
    assert answer["repeated"][0]["count"] == 20
    results = {}
    for name, path in paths.items():
        app.get(path)  # warm-up
        wall, cpu = [], []
        for _ in range(reps):
            begin, begin_cpu = time.perf_counter(), time.process_time()
            app.get(path)
            wall.append(time.perf_counter() - begin)
            cpu.append(time.process_time() - begin_cpu)
        # The CPU time of this process: what other jobs on a shared machine change least.
        results[name] = (statistics.median(wall) * 1000, statistics.median(cpu) * 1000)
    get_state(app.app.registry).close()
    return results


def _pg_url(records: int) -> str | None:
    import sqlalchemy as sa

    name = f"c2c_bench_request_view_{records}"
    try:
        engine = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            if not connection.exec_driver_sql(f"SELECT 1 FROM pg_database WHERE datname = '{name}'").first():
                connection.exec_driver_sql(f"CREATE DATABASE {name}")
        engine.dispose()
    except Exception as exc:
        print(f"# PostgreSQL not available: {exc}", file=sys.stderr)
        return None
    return PG_ADMIN.rsplit("/", 1)[0] + "/" + name


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--no-pg", action="store_true")
    args = parser.parse_args()
    DATA.mkdir(parents=True, exist_ok=True)
    urls = {"sqlite": f"sqlite:///{DATA / f'request-view-{args.records}.sqlite'}"}
    if not args.no_pg:
        pg = _pg_url(args.records)
        if pg:
            urls["postgresql"] = pg
    for backend, url in urls.items():
        load(url, args.records)
        print(f"\n{backend}: {args.records:,} background records, median of {args.reps} (ms, in-process)")
        print(f"  {'':<32}{'wall':>9}{'CPU':>9}")
        for name, (wall, cpu) in measure(url, args.reps).items():
            print(f"  {name:<32}{wall:>9.1f}{cpu:>9.1f}")


if __name__ == "__main__":
    main()
