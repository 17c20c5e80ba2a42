"""The ClickHouse backend of the collector: a server (clickhouse-connect) or embedded (chdb).

URLs (``C2C_COLLECTOR_DB_URL``):

- ``clickhouse://user:password@host:8123/database`` (HTTP), ``clickhouses://...`` (HTTPS, port
  8443 by default): a ClickHouse server or cluster, through ``clickhouse-connect``;
- ``chdb:///absolute/path/to/directory`` (the ClickHouse engine inside the collector process,
  data in that directory) and ``chdb://`` (in memory, for tests). ``?database=name`` picks the
  database (default ``default``). chdb runs one data directory per process: one worker process.

Design (docs/collector/clickhouse.md says why, with the figures):

- ids: ClickHouse has no sequence. An id is a Snowflake-like integer of 53 bits (exact as a
  JavaScript number: the UI reads ids from JSON), ``(milliseconds since 2024-01-01) << 13 | node
  << 8 | sequence``, made by the writing process: increasing in each process (the live stream and
  the ``id`` filter need that), unique across writers as long as their 5-bit node ids differ
  (``?node_id=N``; by default a hash of host and process id).
- idempotency: the rows of a batch whose ``uuid`` is already stored (looked up through a bloom
  filter index in the batch's time range) or repeated in the batch are skipped, under a process
  lock, so that a writer's retry never stores a record twice. ReplacingMergeTree would only
  remove duplicates at some later merge, after the second copy was acknowledged and served.
- batching: concurrent inserts of one process are merged into one INSERT (group commit, as
  SQLite's); a server also gets ``async_insert=1, wait_for_async_insert=1`` so that many
  collectors' small batches become one part, each acknowledged only once flushed.
"""

from __future__ import annotations

import datetime
import hashlib
import importlib
import logging
import os
import socket
import threading
import time
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from c2cwsgiutils.collector.storage.base import MAX_REQUEST_TRACES, InsertResult, Storage, tsv_text
from c2cwsgiutils.collector.storage.clickhouse_sql import Engine, literal
from c2cwsgiutils.collector.storage.schema import INSERT_COLUMNS, TABLE_NAME, record_table
from c2cwsgiutils.collector.wire import Row

__all__ = ["ClickHouseStorage", "ddl", "is_clickhouse_url", "parse_url"]

LOG = logging.getLogger(__name__)

WINDOW_TABLE = "c2c_log_request_window"
SCHEMA_TABLE = "c2c_collector_schema"
SCHEMA_VERSION = 1
# Ids stay below 2**53 (JavaScript's exact integers): 40 bits of milliseconds (until 2058), 5 of
# node, 8 of sequence (256 ids per millisecond and node; more borrow the next milliseconds).
EPOCH_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z
_MS_BITS = 40
_NODE_BITS = 5
_SEQUENCE_BITS = 8
_MAX_SEQUENCE = (1 << _SEQUENCE_BITS) - 1
_MAX_BATCH_ROWS = 100_000  # rows of one INSERT at most (a group commit takes waiting jobs up to it)
_UUID_CHUNK = 20_000  # uuids per idempotency look-up (a query parameter)
_SCHEMES = ("clickhouse", "clickhouses", "chdb")


def is_clickhouse_url(url: str) -> bool:
    """Whether ``url`` names a ClickHouse database (server or embedded)."""
    return url.split(":", 1)[0].lower() in _SCHEMES


@dataclass
class ClickHouseUrl:
    """What a ClickHouse URL says."""

    embedded: bool
    path: str | None = None  # chdb: the data directory (None: in memory)
    host: str = "localhost"
    port: int = 8123
    secure: bool = False
    username: str = "default"
    password: str = ""
    database: str = "default"
    node_id: int | None = None
    settings: dict[str, str] = field(default_factory=dict)


def parse_url(url: str) -> ClickHouseUrl:
    """Parse a ``clickhouse://``, ``clickhouses://`` or ``chdb://`` URL; raises ValueError."""
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    query = dict(urllib.parse.parse_qsl(parts.query))
    node = query.pop("node_id", None)
    node_id = None
    if node is not None:
        if not node.isdigit() or int(node) >= 1 << _NODE_BITS:
            raise ValueError(f"node_id in C2C_COLLECTOR_DB_URL must be 0..{(1 << _NODE_BITS) - 1}")
        node_id = int(node)
    database = query.pop("database", None)
    if scheme == "chdb":
        if parts.netloc:
            raise ValueError("a chdb URL is chdb:///absolute/path (three slashes) or chdb:// (in memory)")
        path = urllib.parse.unquote(parts.path) or None
        return ClickHouseUrl(True, path=path, database=database or "default", node_id=node_id, settings=query)
    if scheme not in ("clickhouse", "clickhouses"):
        raise ValueError(f"not a ClickHouse URL: {scheme}://")
    secure = scheme == "clickhouses"
    return ClickHouseUrl(
        False,
        host=parts.hostname or "localhost",
        port=parts.port or (8443 if secure else 8123),
        secure=secure,
        username=urllib.parse.unquote(parts.username or "default"),
        password=urllib.parse.unquote(parts.password or ""),
        database=database or parts.path.strip("/") or "default",
        node_id=node_id,
        settings=query,
    )


# ---- clients ------------------------------------------------------------------------------------


_CHDB_LOCK = threading.Lock()
_CHDB_SESSIONS: dict[str | None, list[Any]] = {}  # path -> [session, users]


class _ChdbClient:
    """The embedded engine. chdb holds one data directory per process: sessions are shared."""

    def __init__(self, path: str | None) -> None:
        try:
            session: Any = importlib.import_module("chdb.session")  # untyped
        except ImportError:
            raise ValueError(
                "C2C_COLLECTOR_DB_URL is a chdb:// URL but chdb is not installed: "
                "pip install 'c2cwsgiutils[clickhouse]'"
            ) from None
        import orjson

        self._loads = orjson.loads
        self.path = path
        with _CHDB_LOCK:
            entry = _CHDB_SESSIONS.get(path)
            if entry is None:
                for other, (idle, users) in list(_CHDB_SESSIONS.items()):
                    if users <= 0:  # kept open after its last user (see close): now make way
                        del _CHDB_SESSIONS[other]
                        idle.close()
                others = [other for other in _CHDB_SESSIONS if other != path]
                if others:
                    raise ValueError(
                        f"chdb already runs on {others[0] or 'memory'} in this process: one chdb "
                        "directory per process (use a ?database= of it, or a ClickHouse server)"
                    )
                try:
                    if path:
                        os.makedirs(path, exist_ok=True)
                    opened = session.Session(path or ":memory:")
                except Exception as exc:  # said in one sentence, not a traceback
                    raise ValueError(
                        f"the chdb directory {path} cannot be opened ({str(exc)[:200]}): make it "
                        "writable by this user, stop the other process that uses it, or change "
                        "C2C_COLLECTOR_DB_URL"
                    ) from None
                entry = _CHDB_SESSIONS[path] = [opened, 0]
                # 64-bit integers as JSON numbers (ClickHouse quotes them by default).
                entry[0].query("SET output_format_json_quote_64bit_integers = 0")
            entry[1] += 1
        self._session = entry[0]

    def select(self, sql: str, strings: dict[str, list[str]] | None = None) -> list[list[Any]]:
        """Rows of ``sql``; ``strings``: values of its ``{name:Array(String)}`` parameters."""
        params = None
        if strings:  # as ClickHouse's text form of an array: quicker to parse than SQL literals
            params = {name: "[" + ",".join(map(literal, values)) + "]" for name, values in strings.items()}
        result = self._session.query(sql, "JSONCompact", params=params)
        raw = result.bytes()
        data: list[list[Any]] = self._loads(raw)["data"] if raw else []
        return data

    def command(self, sql: str) -> None:
        self._session.query(sql)

    def insert(self, table: str, rows: Sequence[Row]) -> None:
        self._session.query(
            f"INSERT INTO {table} ({', '.join(_INSERT_COLUMNS)}) {_INSERT_SETTINGS} FORMAT TabSeparated\n"
            + tsv_text(rows)
        )

    def close(self) -> None:
        # The session stays open after its last user, for the next storage of the same path:
        # closing a chdb session and opening another leaks about five of the engine's threads
        # and a dozen file descriptors each time (chdb 4.4), which a process that opens storages
        # again and again (a test suite) runs out of. Another path closes it first (above).
        with _CHDB_LOCK:
            entry = _CHDB_SESSIONS.get(self.path)
            if entry is not None:
                entry[1] -= 1


class _ServerClient:
    """A ClickHouse server through clickhouse-connect (HTTP, pooled, thread-safe)."""

    def __init__(self, url: ClickHouseUrl) -> None:
        try:
            import clickhouse_connect
        except ImportError:
            raise ValueError(
                "C2C_COLLECTOR_DB_URL is a clickhouse:// URL but clickhouse-connect is not installed: "
                "pip install 'c2cwsgiutils[clickhouse]'"
            ) from None
        self._client = clickhouse_connect.get_client(
            host=url.host,
            port=url.port,
            username=url.username,
            password=url.password,
            database=url.database,
            secure=url.secure,
            autogenerate_session_id=False,  # no server session: concurrent queries from threads
            settings=url.settings,
        )

    def select(self, sql: str, strings: dict[str, list[str]] | None = None) -> list[list[Any]]:
        """Rows of ``sql``; ``strings``: values of its ``{name:Array(String)}`` parameters."""
        return [list(row) for row in self._client.query(sql, parameters=strings).result_rows]

    def command(self, sql: str) -> None:
        self._client.command(sql)

    def insert(self, table: str, rows: Sequence[Row]) -> None:
        """Insert ``rows`` (Native format), acknowledged once the server wrote them (async insert:
        the server gathers the small inserts of many collectors into one part)."""
        database, _, name = table.rpartition(".")
        self._client.insert(
            name,
            rows,
            column_names=list(_INSERT_COLUMNS),
            database=database or None,
            settings={"async_insert": 1, "wait_for_async_insert": 1},
        )

    def close(self) -> None:
        self._client.close()


_INSERT_COLUMNS = ("id", *INSERT_COLUMNS)
# A NULL in a NOT NULL column is an error (ClickHouse would store the type's default instead).
_INSERT_SETTINGS = "SETTINGS input_format_null_as_default = 0"
# min/max/sum of no row are NULL, as in SQL (ClickHouse answers 0 by default).
_READ_SETTINGS = " SETTINGS aggregate_functions_null_for_empty = 1"
# ---- schema -------------------------------------------------------------------------------------


def ddl(database: str, cluster: str | None = None) -> list[str]:
    """The statements that create the collector's tables in ``database`` (idempotent)."""
    t = f"{database}.{TABLE_NAME}"
    w = f"{database}.{WINDOW_TABLE}"
    day = "toDate(fromUnixTimestamp64Micro(time_us))"
    return [
        f"CREATE DATABASE IF NOT EXISTS {database}",
        f"""CREATE TABLE IF NOT EXISTS {t} (
    id Int64 CODEC(Delta(8), ZSTD(1)),
    uuid Nullable(String) CODEC(ZSTD(1)),
    time_us Int64 CODEC(DoubleDelta, ZSTD(1)),
    level Int32 CODEC(T64, ZSTD(1)),
    logger_name LowCardinality(String) CODEC(ZSTD(1)),
    message String CODEC(ZSTD(1)),
    host LowCardinality(Nullable(String)) CODEC(ZSTD(1)),
    service LowCardinality(Nullable(String)) CODEC(ZSTD(1)),
    request_id Nullable(String) CODEC(ZSTD(1)),
    trace_id Nullable(String) CODEC(ZSTD(1)),
    span_id Nullable(String) CODEC(ZSTD(1)),
    parent_span_id Nullable(String) CODEC(ZSTD(1)),
    task_id Nullable(String) CODEC(ZSTD(1)),
    kind LowCardinality(Nullable(String)) CODEC(ZSTD(1)),
    data String CODEC(ZSTD(1)),
    INDEX ix_request_id request_id TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX ix_trace_id trace_id TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX ix_uuid uuid TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX ix_id id TYPE minmax GRANULARITY 1,
    INDEX ix_message message TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 1
) ENGINE = MergeTree
PARTITION BY {day}
ORDER BY (service, time_us)
SETTINGS allow_nullable_key = 1, index_granularity = 8192""",
        # request id / trace id -> (first, last) time: the request view reads only that window.
        f"""CREATE TABLE IF NOT EXISTS {w} (
    key String CODEC(ZSTD(1)),
    first_us SimpleAggregateFunction(min, Int64),
    last_us SimpleAggregateFunction(max, Int64)
) ENGINE = AggregatingMergeTree
ORDER BY key""",
        f"""CREATE MATERIALIZED VIEW IF NOT EXISTS {w}_request_mv TO {w} AS
SELECT concat('r:', assumeNotNull(request_id)) AS key, min(time_us) AS first_us, max(time_us) AS last_us
FROM {t} WHERE request_id IS NOT NULL GROUP BY key""",
        f"""CREATE MATERIALIZED VIEW IF NOT EXISTS {w}_trace_mv TO {w} AS
SELECT concat('t:', assumeNotNull(trace_id)) AS key, min(time_us) AS first_us, max(time_us) AS last_us
FROM {t} WHERE trace_id IS NOT NULL GROUP BY key""",
        f"CREATE TABLE IF NOT EXISTS {database}.{SCHEMA_TABLE} "
        "(version UInt32, applied DateTime DEFAULT now()) ENGINE = MergeTree ORDER BY version",
    ]


# ---- ids ----------------------------------------------------------------------------------------


class _Ids:
    """Snowflake-like ids: increasing in this process, unique across nodes (see the module doc)."""

    def __init__(self, node: int) -> None:
        self.node = node
        self._last_ms = 0
        self._sequence = 0

    def take(self, count: int) -> list[int]:
        """``count`` new ids, increasing. Call under the write lock."""
        ids: list[int] = []
        now_ms = int(time.time() * 1000) - EPOCH_MS
        if now_ms > self._last_ms:
            self._last_ms, self._sequence = now_ms, 0
        while len(ids) < count:
            if self._sequence > _MAX_SEQUENCE:  # this millisecond is used up: borrow the next
                self._last_ms += 1
                self._sequence = 0
            if self._last_ms >> _MS_BITS:
                raise RuntimeError("collector ids past 2**53: 2058 has come, move EPOCH_MS on")
            take = min(count - len(ids), _MAX_SEQUENCE + 1 - self._sequence)
            base = (self._last_ms << (_NODE_BITS + _SEQUENCE_BITS)) | (self.node << _SEQUENCE_BITS)
            ids.extend(range(base + self._sequence, base + self._sequence + take))
            self._sequence += take
        return ids


def _default_node() -> int:
    digest = hashlib.sha256(f"{socket.gethostname()}/{os.getpid()}".encode()).digest()
    return int.from_bytes(digest[:2], "big") % (1 << _NODE_BITS)


# A read of a few granules: one thread (the threads of a parallel read cost more than they save).
_POINT_READ = "max_threads = 1"

_window_table = sa.Table(
    WINDOW_TABLE,
    sa.MetaData(),
    sa.Column("key", sa.String()),
    sa.Column("first_us", sa.BigInteger()),
    sa.Column("last_us", sa.BigInteger()),
)


def _in_window(keys: list[str]) -> list[Any]:
    """``time_us`` within the window of these keys (ClickHouse runs the scalar subqueries first,
    then prunes partitions and granules with their values; no window: no row)."""
    window = _window_table.c
    found = window.key.in_(keys) if len(keys) > 1 else window.key == keys[0]
    first = sa.select(sa.func.min(window.first_us)).where(found).scalar_subquery()
    last = sa.select(sa.func.max(window.last_us)).where(found).scalar_subquery()
    return [record_table.c.time_us >= first, record_table.c.time_us <= last]


# ---- the storage --------------------------------------------------------------------------------


@dataclass
class _Job:
    rows: Sequence[Row]
    done: bool = False
    stored: int = 0
    first_id: int | None = None
    error: BaseException | None = None


class ClickHouseStorage(Storage):
    """ClickHouse: the reads of :class:`Storage` compiled to ClickHouse SQL, and its own writes."""

    dialect = "clickhouse"

    def __init__(self, url: str) -> None:
        self.url = parse_url(url)
        client: Any = _ChdbClient(self.url.path) if self.url.embedded else _ServerClient(self.url)
        self.client = client
        self.database = self.url.database
        self.table = f"{self.database}.{TABLE_NAME}"
        self.clickhouse = Engine(client, url, self.database, _READ_SETTINGS)
        super().__init__(self.clickhouse)  # type: ignore[arg-type]
        self._ids = _Ids(_default_node() if self.url.node_id is None else self.url.node_id)
        self._write_lock = threading.Lock()
        self._pending_lock = threading.Lock()
        self._pending: list[_Job] = []

    # ---- schema ---------------------------------------------------------------------------------

    def migrate_schema(self) -> None:
        """Create the tables and views when missing (idempotent)."""
        for statement in ddl(self.database):
            self.client.command(statement)
        done = self.client.select(f"SELECT count() FROM {self.database}.{SCHEMA_TABLE}")
        if not done[0][0]:
            self.client.command(
                f"INSERT INTO {self.database}.{SCHEMA_TABLE} (version) VALUES ({SCHEMA_VERSION})"
            )

    def set_read_timeout(self, seconds: float) -> None:
        """Cut every read short after ``seconds`` (``max_execution_time``)."""
        self.clickhouse.read_settings = f"{_READ_SETTINGS}, max_execution_time = {max(0.001, seconds):g}"

    def storage_bytes(self) -> int | None:
        """Bytes on disk of the active parts of the record table."""
        rows = self.client.select(
            "SELECT sum(bytes_on_disk) FROM system.parts WHERE active AND database = "
            f"{literal(self.database)} AND table = {literal(TABLE_NAME)}"
        )
        return int(rows[0][0] or 0) if rows else None

    # ---- writes ---------------------------------------------------------------------------------

    def insert(self, rows: Sequence[Row]) -> InsertResult:
        """Group commit: the thread that gets the lock writes every waiting job in one INSERT."""
        if not rows:
            return InsertResult(0, 0)
        job = _Job(rows)
        with self._pending_lock:
            self._pending.append(job)
        with self._write_lock:
            if not job.done:
                with self._pending_lock:
                    jobs, self._pending = self._take_pending()
                self._write(jobs)
        if job.error is not None:
            raise job.error
        return InsertResult(job.stored, len(rows) - job.stored, job.first_id)

    def _take_pending(self) -> tuple[list[_Job], list[_Job]]:
        taken: list[_Job] = []
        count = 0
        for index, job in enumerate(self._pending):
            if taken and count + len(job.rows) > _MAX_BATCH_ROWS:
                return taken, self._pending[index:]
            taken.append(job)
            count += len(job.rows)
        return taken, []

    def _write(self, jobs: list[_Job]) -> None:
        try:
            existing = self._existing([row for job in jobs for row in job.rows])
            new_rows: list[Row] = []
            seen: set[str] = set()
            for job in jobs:
                fresh = []
                for row in job.rows:
                    uuid = row[0]
                    if uuid:
                        if uuid in existing or uuid in seen:
                            continue
                        seen.add(uuid)
                    fresh.append(row)
                ids = self._ids.take(len(fresh))
                new_rows.extend((row_id, *row) for row_id, row in zip(ids, fresh, strict=True))
                job.stored = len(fresh)
                if len(job.rows) == 1:
                    uuid = job.rows[0][0]
                    job.first_id = ids[0] if ids else existing.get(uuid) if uuid else None
            if new_rows:
                self.client.insert(self.table, new_rows)
        except BaseException as exc:
            for job in jobs:
                job.error = exc
        finally:
            for job in jobs:
                job.done = True

    def _existing(self, rows: Sequence[Row]) -> dict[str, int]:
        """uuid -> id of the rows' uuids already stored (looked up in the rows' time range)."""
        keyed = [row for row in rows if row[0]]
        found: dict[str, int] = {}
        for start in range(0, len(keyed), _UUID_CHUNK):
            chunk = keyed[start : start + _UUID_CHUNK]
            low = min(row[1] for row in chunk)
            high = max(row[1] for row in chunk)
            for uuid, row_id in self.client.select(
                f"SELECT uuid, id FROM {self.table} WHERE time_us >= {int(low)} AND time_us <= {int(high)} "
                "AND uuid IN {uuids:Array(String)}",
                {"uuids": [row[0] for row in chunk]},
            ):
                found[uuid] = int(row_id)
        return found

    def _existing_id(self, uuid: str) -> int | None:
        rows = self.client.select(f"SELECT id FROM {self.table} WHERE uuid = {literal(uuid)} LIMIT 1")
        return int(rows[0][0]) if rows else None

    def delete_older_than(self, cutoff_us: int, batch: int) -> int:
        """Drop the days wholly older than ``cutoff_us`` (whole partitions: cheap), then delete the
        rest of the older records (a lightweight ``DELETE``). Returns how many records went."""
        count = int(
            self.client.select(f"SELECT count() FROM {self.table} WHERE time_us < {int(cutoff_us)}")[0][0]
        )
        if not count:
            return 0
        cutoff_day = datetime.date(1970, 1, 1) + datetime.timedelta(days=int(cutoff_us // 86_400_000_000))
        partitions = self.client.select(
            "SELECT DISTINCT partition_id FROM system.parts WHERE active AND database = "
            f"{literal(self.database)} AND table = {literal(TABLE_NAME)}"
        )
        for (partition_id,) in partitions:
            # The partition ids of toDate() are YYYYMMDD: whole days before the cutoff's go.
            if datetime.datetime.strptime(str(partition_id), "%Y%m%d").date() < cutoff_day:
                self.client.command(f"ALTER TABLE {self.table} DROP PARTITION ID {literal(partition_id)}")
        self.client.command(f"DELETE FROM {self.table} WHERE time_us < {int(cutoff_us)}")
        return count

    # ---- reads ----------------------------------------------------------------------------------

    def buckets(self, where: Any, seconds: int) -> list[tuple[int, int]]:
        """(bucket start in POSIX seconds, count), one ``GROUP BY`` (a columnar scan is cheap)."""
        with self.reader.connect() as connection:
            return self._grouped_buckets(connection, where, seconds)

    @staticmethod
    def _grouped_buckets(connection: Any, where: Any, seconds: int) -> list[tuple[int, int]]:
        # ClickHouse's / divides as floats: intDiv truncates (a floor: times are positive).
        bucket = sa.literal_column(f"intDiv(time_us, {int(seconds) * 1_000_000})", sa.BigInteger())
        statement = sa.select(bucket, sa.func.count()).select_from(record_table).where(where).group_by(bucket)
        return sorted((int(b) * seconds, int(n)) for b, n in connection.execute(statement))

    def _window(self, keys: list[str]) -> tuple[int, int] | None:
        """(first, last) time of the records of these request (``r:``) or trace (``t:``) keys."""
        listed = ", ".join(literal(key) for key in keys)
        rows = self.client.select(
            f"SELECT min(first_us), max(last_us), count() FROM {self.database}.{WINDOW_TABLE} "
            f"WHERE key IN ({listed})"
        )
        if not rows or not rows[0][2]:
            return None
        return int(rows[0][0]), int(rows[0][1])

    def by_request(self, request_id: str, limit: int) -> list[dict[str, Any]]:
        """As :meth:`Storage.by_request`, reading only the time window of the request (and of its
        traces) that the materialized views keep: two queries, the window of each a subquery."""
        table = record_table.c
        statement = (
            sa.select(record_table)
            .where(*_in_window([f"r:{request_id}"]), table.request_id == request_id)
            .order_by(table.time_us, table.id)
            .limit(limit)
        )
        with self.clickhouse.connect() as connection:
            rows = [dict(row._mapping) for row in connection.execute(statement, settings=_POINT_READ)]
            traces = sorted({row["trace_id"] for row in rows if row["trace_id"]})[:MAX_REQUEST_TRACES]
            if traces:
                joined = connection.execute(
                    sa.select(record_table)
                    .where(
                        *_in_window([f"t:{trace}" for trace in traces]),
                        table.trace_id.in_(traces),
                        table.request_id.is_(None),
                    )
                    .order_by(table.time_us, table.id)
                    .limit(limit),
                    settings=_POINT_READ,
                ).all()
                if joined:
                    rows.extend(dict(row._mapping) for row in joined)
                    rows.sort(key=lambda row: (row["time_us"], row["id"]))
                    del rows[limit:]
        return [self._with_data(row) for row in rows]

    def dispose(self) -> None:
        self.client.close()
