"""``GET /api/v1/status``: how the collector is doing, for ``c2cwsgiutils-logs status``.

The answer holds the record count, the ingestion rate (records whose time falls in the last
minute and the last five minutes, per second: records carry their emission time, not their
arrival time), the lag (now minus the newest record's time), the storage size (the SQLite
files, or ``pg_total_relation_size`` of the table) and, per (service, host), the number of
records and the time of the newest one. The per-source figures scan the table: a status call
on tens of millions of records takes seconds, which is why it is not part of a health check.
"""

from __future__ import annotations

import os
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from c2cwsgiutils import _compiled
from c2cwsgiutils.collector.http.api import _iso, endpoint, json_response, read_only
from c2cwsgiutils.collector.http.app_state import CollectorState
from c2cwsgiutils.collector.storage.backends import Storage
from c2cwsgiutils.collector.storage.schema import TABLE_NAME, record_table

__all__ = ["collector_status", "includeme", "status_view"]

MAX_SOURCES = 1000


def _storage_bytes(storage: Storage) -> int | None:
    if hasattr(storage, "storage_bytes"):  # ClickHouse: its parts on disk
        return storage.storage_bytes()  # type: ignore[no-any-return]
    if storage.dialect == "sqlite":
        database = make_url(str(storage.engine.url)).database
        if not database or database == ":memory:":
            return None
        return sum(
            os.path.getsize(path)
            for path in (database, database + "-wal", database + "-shm")
            if os.path.exists(path)
        )
    with storage.reader.connect() as connection:
        size = connection.execute(sa.text(f"SELECT pg_total_relation_size('{TABLE_NAME}')")).scalar()
        return None if size is None else int(size)


def collector_status(storage: Storage, now: float | None = None) -> dict[str, Any]:
    """The status document of ``storage`` at ``now`` (POSIX seconds, default the current time)."""
    now = time.time() if now is None else now
    now_us = int(now * 1_000_000)
    table = record_table.c
    with storage.reader.connect() as connection:
        total, newest = connection.execute(sa.select(sa.func.count(), sa.func.max(table.time_us))).one()
        last_minute, last_5_minutes = connection.execute(
            sa.select(
                sa.func.count().filter(table.time_us >= now_us - 60_000_000),
                sa.func.count(),
            ).where(table.time_us >= now_us - 300_000_000)
        ).one()
        sources = connection.execute(
            sa.select(table.service, table.host, sa.func.count(), sa.func.max(table.time_us))
            .group_by(table.service, table.host)
            .order_by(sa.func.max(table.time_us).desc())
            .limit(MAX_SOURCES)
        ).all()
    return {
        "now": _iso(now_us),
        "records": int(total),
        "newest": None if newest is None else _iso(int(newest)),
        "lag_seconds": None if newest is None else round((now_us - int(newest)) / 1_000_000, 3),
        "rate_1m": round(int(last_minute) / 60, 3),
        "rate_5m": round(int(last_5_minutes) / 300, 3),
        "storage": {"backend": storage.dialect, "bytes": _storage_bytes(storage)},
        "compiled": _compiled.build_status(),
        "sources": [
            {
                "service": service,
                "host": host,
                "records": int(count),
                "last": _iso(int(last)),
                "idle_seconds": round((now_us - int(last)) / 1_000_000, 3),
            }
            for service, host, count, last in sources
        ],
    }


@endpoint("reader")
def status_view(request: Any, state: CollectorState) -> Any:
    """GET /api/v1/status."""
    return json_response(collector_status(state.storage))


def includeme(config: Any) -> None:
    """Add the ``/api/v1/status`` route."""
    config.add_route("c2c_collector_status", "/api/v1/status")
    config.add_view(read_only(status_view), route_name="c2c_collector_status")
