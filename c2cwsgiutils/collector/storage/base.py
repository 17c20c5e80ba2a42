"""The storage interface every backend implements, and the reads they share (SQLAlchemy Core).

:class:`Storage` reads the one table of :mod:`schema` with SQLAlchemy Core; the backends
(:mod:`backends`: SQLite and PostgreSQL; :mod:`clickhouse`) differ in their write path and
connection set-up. An insert returns only once its transaction is committed, which is what lets
the API acknowledge a record.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, NamedTuple

import orjson
import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from c2cwsgiutils.collector.storage.schema import record_table
from c2cwsgiutils.collector.wire import Row

__all__ = [
    "MAX_RANGE_BUCKETS",
    "MAX_REQUEST_TRACES",
    "SUMMARY_COLUMNS",
    "InsertResult",
    "Storage",
    "json_loads",
    "tsv_field",
    "tsv_text",
]

MAX_RANGE_BUCKETS = 20_000

SUMMARY_COLUMNS = [c for c in record_table.c if c.name != "data"]


# The request view follows at most this many traces of one request (records without a request id).
MAX_REQUEST_TRACES = 16


class InsertResult(NamedTuple):
    """How many rows were stored and how many were already there (same ``uuid``).

    A named tuple: made once per request, at a fraction of the cost of a frozen dataclass.
    """

    stored: int
    duplicates: int
    first_id: int | None = None  # id of the single row inserted (or found, for a duplicate)


class Storage:
    """The interface the API uses; subclasses implement :meth:`insert` and the engine set-up."""

    dialect = ""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.reader = engine.execution_options(c2c_read=True)  # same pool, marked read-only

    # ---- writes ----------------------------------------------------------------------------

    def insert(self, rows: Sequence[Row]) -> InsertResult:
        """Insert rows in one committed transaction, skipping those whose ``uuid`` exists."""
        raise NotImplementedError

    def _existing_id(self, uuid: str) -> int | None:
        with self.reader.connect() as connection:
            found = connection.execute(
                sa.select(record_table.c.id).where(record_table.c.uuid == uuid)
            ).scalar_one_or_none()
            return None if found is None else int(found)

    def delete_older_than(self, cutoff_us: int, batch: int) -> int:
        """Delete at most ``batch`` records older than ``cutoff_us``; returns how many."""
        oldest = sa.select(record_table.c.id).where(record_table.c.time_us < cutoff_us).limit(batch)
        with self.engine.begin() as connection:
            result = connection.execute(sa.delete(record_table).where(record_table.c.id.in_(oldest)))
            return int(result.rowcount or 0)

    # ---- reads -----------------------------------------------------------------------------

    def count(self, where: ColumnElement[bool]) -> int:
        """Number of records matching ``where``."""
        with self.reader.connect() as connection:
            return int(
                connection.execute(
                    sa.select(sa.func.count()).select_from(record_table).where(where)
                ).scalar_one()
            )

    def buckets(self, where: ColumnElement[bool], seconds: int) -> list[tuple[int, int]]:
        """(bucket start in POSIX seconds, count) of matching records in buckets of ``seconds``.

        One indexed range count per bucket (a recursive CTE of the bucket starts): several times
        faster than ``GROUP BY time_us / step``, which sorts every matching row. Spans of more
        than ``MAX_RANGE_BUCKETS`` buckets fall back to the ``GROUP BY``.
        """
        step = int(seconds) * 1_000_000
        time_us = record_table.c.time_us
        with self.reader.connect() as connection:
            # Two statements: SQLite reads a lone min() or max() off the time index (a few rows),
            # but scans every matching row for both in one SELECT.
            low = connection.execute(sa.select(sa.func.min(time_us)).where(where)).scalar()
            if low is None:
                return []
            high = connection.execute(sa.select(sa.func.max(time_us)).where(where)).scalar_one()
            first, last = (int(low) // step) * step, (int(high) // step) * step
            if (last - first) // step + 1 > MAX_RANGE_BUCKETS:
                return self._grouped_buckets(connection, where, seconds)
            starts = sa.select(sa.literal(first, sa.BigInteger()).label("start")).cte(
                "bucket", recursive=True
            )
            starts = starts.union_all(
                sa.select((starts.c.start + step).label("start")).where(starts.c.start + step <= last)
            )
            count = (
                sa.select(sa.func.count())
                .select_from(record_table)
                .where(time_us >= starts.c.start, time_us < starts.c.start + step, where)
                .scalar_subquery()
            )
            rows = connection.execute(sa.select(starts.c.start, count))
            return [(int(start) // 1_000_000, int(number)) for start, number in rows if number]

    @staticmethod
    def _grouped_buckets(connection: Any, where: ColumnElement[bool], seconds: int) -> list[tuple[int, int]]:
        # Integer division truncates on both backends; times are positive, so it is a floor.
        bucket = sa.literal_column(f"(time_us / {int(seconds) * 1_000_000})", sa.BigInteger())
        statement = sa.select(bucket, sa.func.count()).select_from(record_table).where(where).group_by(bucket)
        return sorted((int(b) * seconds, int(n)) for b, n in connection.execute(statement))

    def range(
        self, where: ColumnElement[bool], offset: int, limit: int, *, with_data: bool = False
    ) -> list[dict[str, Any]]:
        """Matching records (with ``data`` when ``with_data``), newest first, from ``offset``, at
        most ``limit``."""
        statement = (
            sa.select(*(record_table.c if with_data else SUMMARY_COLUMNS))
            .where(where)
            .order_by(record_table.c.time_us.desc(), record_table.c.id.desc())
            .offset(offset)
            .limit(limit)
        )
        with self.reader.connect() as connection:
            rows = [dict(row._mapping) for row in connection.execute(statement)]
        return [self._with_data(row) for row in rows] if with_data else rows

    def get(self, record_id: int) -> dict[str, Any] | None:
        """One record with its ``data``, or ``None``."""
        with self.reader.connect() as connection:
            row = connection.execute(sa.select(record_table).where(record_table.c.id == record_id)).first()
            return None if row is None else self._with_data(dict(row._mapping))

    def by_request(self, request_id: str, limit: int) -> list[dict[str, Any]]:
        """Every record of one request (up to ``limit``), oldest first, with ``data``.

        Also the records without a request id that share a trace with it: what services that
        only propagate ``traceparent`` (OpenTelemetry ones, through OTLP) recorded of the request.
        """
        table = record_table.c
        statement = (
            sa.select(record_table)
            .where(table.request_id == request_id)
            .order_by(table.time_us, table.id)
            .limit(limit)
        )
        with self.reader.connect() as connection:
            result = connection.execute(statement)
            # zip with the keys once: dict(row._mapping) builds a key view per row (a third of the time).
            keys = tuple(result.keys())
            rows = [dict(zip(keys, row, strict=True)) for row in result.all()]
            traces = sorted({row["trace_id"] for row in rows if row["trace_id"]})[:MAX_REQUEST_TRACES]
            if traces:
                joined = connection.execute(
                    sa.select(record_table)
                    .where(table.trace_id.in_(traces), table.request_id.is_(None))
                    .order_by(table.time_us, table.id)
                    .limit(limit)
                ).all()
                if joined:
                    rows.extend(dict(zip(keys, row, strict=True)) for row in joined)
                    rows.sort(key=lambda row: (row["time_us"], row["id"]))
                    del rows[limit:]
        return [self._with_data(row) for row in rows]

    @staticmethod
    def _with_data(row: dict[str, Any]) -> dict[str, Any]:
        data = row.get("data")
        if isinstance(data, str):  # a driver that does not decode JSON
            row["data"] = json.loads(data)
        return row

    def dispose(self) -> None:
        """Close every pooled connection (after a fork, at shutdown)."""
        self.engine.dispose()


def json_loads(text: str | bytes) -> Any:
    """A stored ``data`` as Python (the engines' JSON deserializer).

    orjson: reading the 500 rows of a request view takes half the time it takes with ``json``.
    What orjson refuses (``NaN``, integers past 64 bits) in rows stored before the intake refused
    them is read by ``json`` as before.
    """
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


# PostgreSQL's COPY text format and ClickHouse's TabSeparated alike: backslash, tab, newline and
# carriage return escaped; NULL is \N.
_TSV_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def tsv_field(value: Any) -> str:
    """One field of a tab-separated row (COPY text, TabSeparated)."""
    if value is None:
        return "\\N"
    text = value if isinstance(value, str) else str(value)
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        return text.translate(_TSV_ESCAPES)
    return text


def tsv_text(rows: Sequence[Row]) -> str:
    """Rows as tab-separated lines (COPY text, TabSeparated)."""
    return "".join("\t".join(map(tsv_field, row)) + "\n" for row in rows)
