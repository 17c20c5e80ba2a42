"""Where records live: SQLite (WAL mode) and PostgreSQL, and the choice of a backend by URL.

Reads are those of :class:`base.Storage` (SQLAlchemy Core on the one table of :mod:`schema`); only
the write path (bulk insert with idempotency on ``uuid``) and the connection set-up differ. An insert
returns only once its transaction is committed, which is what lets the API acknowledge a record.
"""

from __future__ import annotations

import fcntl
import io
import logging
import os
import tempfile
import threading
import urllib.parse
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from c2cwsgiutils import _compiled
from c2cwsgiutils.collector.storage.checkpoint import Checkpointer
from c2cwsgiutils.collector.storage.outage import StorageUnavailable
from c2cwsgiutils.collector.storage.schema import INSERT_COLUMNS, TABLE_NAME
from c2cwsgiutils.collector.wire import Row

__all__ = [
    "MAX_RANGE_BUCKETS",
    "MAX_REQUEST_TRACES",
    "SUMMARY_COLUMNS",
    "InsertResult",
    "PostgresStorage",
    "SQLiteStorage",
    "Storage",
    "check_writable",
    "json_loads",
    "migrate",
    "open_storage",
]

_compiled.load("c2cwsgiutils.collector.intake._batch_core")  # compiled when built so (see _compiled)
from c2cwsgiutils.collector.intake import _batch_core  # noqa: E402 - the module load() chose

LOG = logging.getLogger(__name__)


_MAX_NULL_PATTERNS = 64  # single-row INSERT statements kept by pattern of NULL values (sqlite3 caches 128)
_MANY_ROWS = 64  # rows per INSERT of a batch (64 x 14 values: under SQLite's oldest limit of 999)
JOURNAL_SIZE_LIMIT = 64 * 1024 * 1024  # SQLite: a WAL file that starts over is cut back to this size

from c2cwsgiutils.collector.storage.base import (  # noqa: E402 - the interface, re-exported
    MAX_RANGE_BUCKETS,
    MAX_REQUEST_TRACES,
    SUMMARY_COLUMNS,
    InsertResult,
    Storage,
    json_loads,
    tsv_text,
)


class SQLiteStorage(Storage):
    """SQLite in WAL mode: readers never block the writer; ``BEGIN IMMEDIATE`` for writes."""

    dialect = "sqlite"

    def __init__(self, url: str) -> None:
        parsed = make_url(url)
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, json_deserializer=json_loads
        )

        @sa.event.listens_for(engine, "connect")
        def _connect(dbapi_connection: Any, _record: Any) -> None:
            # Autocommit at the driver level: transactions are begun explicitly (see _begin).
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA temp_store=MEMORY")
            cursor.execute("PRAGMA cache_size=-65536")
            cursor.execute(f"PRAGMA journal_size_limit={JOURNAL_SIZE_LIMIT}")
            cursor.close()

        @sa.event.listens_for(engine, "do_connect")
        def _do_connect(_dialect: Any, _record: Any, cargs: list[Any], cparams: dict[str, Any]) -> None:
            # Once the writer has opened the database file, no connection (a reader, the retention
            # or checkpoint thread) may create another, empty one at the path if it is deleted:
            # open it read-write only (SQLite's mode=rw), so a missing file is an error.
            if self._identity is not None and not cparams.get("uri") and cargs and cargs[0] != ":memory:":
                cargs[0] = f"file:{urllib.parse.quote(str(cargs[0]))}?mode=rw"
                cparams["uri"] = True

        @sa.event.listens_for(engine, "begin")
        def _begin(connection: Any) -> None:
            # Reads are one statement each: SQLite's implicit per-statement transaction is enough.
            if not connection.get_execution_options().get("c2c_read"):
                connection.exec_driver_sql("BEGIN")

        super().__init__(engine)
        columns = ", ".join(INSERT_COLUMNS)
        marks = ", ".join("?" for _ in INSERT_COLUMNS)
        self._insert_sql = (
            f"INSERT INTO {TABLE_NAME} ({columns}) VALUES ({marks}) ON CONFLICT (uuid) DO NOTHING"
        )
        self._marks = f"({marks})"
        self._insert_by_nulls: dict[int, str] = {}
        self._insert_by_rows: dict[tuple[int, int], str] = {}
        # Writes are serialised by a thread lock and, across the worker processes, by flock() on a
        # file beside the database: waiting there wakes up as soon as the lock is free, where
        # SQLite's own busy handler sleeps for up to 100 ms between attempts.
        self._write_lock = threading.Lock()
        self._pending_lock = threading.Lock()
        self._pending: list[_Job] = []
        database = parsed.database
        self._lock_path = f"{database}-writelock" if database and database != ":memory:" else None
        # The database file as the writer opened it (st_dev, st_ino): a write is acknowledged only
        # when the path still names that file (deleted or replaced meanwhile: refused, see _verify).
        self._path = database if self._lock_path is not None else None
        self._identity: tuple[int, int] | None = None
        self._reported: tuple[int, int] | None = None  # the lost file already logged
        self._lock_file: Any = None
        self._writer: Any = None  # the writer connection (SQLAlchemy's), its sqlite3 one, a cursor
        self._driver: Any = None
        self._cursor: Any = None
        self._checkpointer: Checkpointer | None = None

    def insert(self, rows: Sequence[Row]) -> InsertResult:
        """Group commit: the thread that gets the lock writes every waiting job in one transaction."""
        if not rows:
            return InsertResult(0, 0)
        if len(rows) == 1 and not self._pending and self._write_lock.acquire(blocking=False):
            # Nobody writing nor waiting: this row alone, without the bookkeeping of a job. (A
            # caller that queues a job meanwhile waits for the lock, then writes it.)
            try:
                stored, row_id = self._write_one(rows[0])
                identity = self._identity
            finally:
                self._write_lock.release()
            self._verify(identity)
            if stored:
                return InsertResult(1, 0, row_id)
            return InsertResult(0, 1, self._existing_id(rows[0][0]) if rows[0][0] else None)
        job = _Job(rows)
        with self._pending_lock:
            self._pending.append(job)
        with self._write_lock:
            if not job.done:
                with self._pending_lock:
                    jobs, self._pending = self._pending, []
                self._write_locked(jobs)
        if job.error is not None:
            raise job.error
        self._verify(job.identity)
        first_id: int | None = None
        if len(rows) == 1:
            first_id = job.last_id if job.stored else (self._existing_id(rows[0][0]) if rows[0][0] else None)
        return InsertResult(job.stored, len(rows) - job.stored, first_id)

    def _flock(self) -> None:
        if self._lock_path is not None and self._lock_file is None:
            self._lock_file = open(self._lock_path, "a+b")  # noqa: SIM115 - kept for the process life
        if self._lock_file is not None:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX)

    def _funlock(self) -> None:
        if self._lock_file is not None:
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        """No write, from this process or another, while in the block (for the checkpointer)."""
        with self._write_lock:
            self._flock()
            try:
                yield
            finally:
                self._funlock()

    def _write_one(self, row: Row) -> tuple[int, int | None]:
        """(rows stored, id of the row) of one row in its own transaction, under the write lock."""
        self._flock()
        try:
            stored, last_id = self._autocommit_one(row)
        finally:
            self._funlock()
        if self._checkpointer is not None:
            self._checkpointer.wrote()
        return stored, last_id

    def _autocommit_one(self, row: Row) -> tuple[int, int | None]:
        """(rows stored, id of the row) of one row written by one autocommit statement: its own
        transaction (committed when execute() returns, rolled back by SQLite itself on an error),
        without BEGIN and COMMIT. Under the write lock and the flock."""
        cursor = self._cursor if self._writer is not None else self._open_writer()
        sql, values = self._insert_one(row)
        driver = self._driver
        before = driver.total_changes
        try:
            cursor.execute(sql, values)
        except BaseException:
            self._close_writer()
            raise
        return driver.total_changes - before, cursor.lastrowid

    def _file_identity(self) -> tuple[int, int] | None:
        """(st_dev, st_ino) of the file the database path names now (``None``: no such file)."""
        assert self._path is not None
        try:
            stat = os.stat(self._path)
        except FileNotFoundError:
            return None
        return stat.st_dev, stat.st_ino

    def _verify(self, identity: tuple[int, int] | None) -> None:
        """Raise StorageUnavailable when the rows just committed went to a file that the database
        path no longer names (deleted, or replaced by another file): they must not be acknowledged."""
        if self._path is None:
            return
        current = self._file_identity()
        if current == identity:
            return
        with self._write_lock:
            if self._identity == identity:  # the next write opens the path again
                self._close_writer()
                self.engine.dispose()  # pooled connections to the old file too
            first = self._reported != identity
            self._reported = identity
        what = "deleted" if current is None else "replaced by another file"
        if first:
            LOG.error(
                "The SQLite database %s was %s while the collector ran: the records written to the "
                "old file are refused (503, their clients resend them)%s",
                self._path,
                what,
                ""
                if current is not None
                else "; new records are refused until the file is back or the collector restarts",
            )
        raise StorageUnavailable(f"the SQLite database {self._path} was {what}")

    def _open_writer(self) -> Any:
        """The cursor of the writer connection, opened: one dedicated connection per process (used
        under the write lock only), so no pool checkout and no reset-on-return per write."""
        if self._path is not None and not os.path.exists(self._path):
            # Opening would create an empty database there: refuse instead (see _verify).
            raise StorageUnavailable(f"the SQLite database {self._path} is missing (deleted?)")
        self._writer = self.engine.raw_connection()
        if self._path is not None:
            self._identity = self._file_identity()
        self._driver = self._writer.driver_connection
        if self._lock_path is not None:  # a file database: checkpoints in the background
            self._driver.execute("PRAGMA wal_autocheckpoint=0")
            if self._checkpointer is None:
                self._checkpointer = Checkpointer(self.engine.raw_connection, self._exclusive)
        self._cursor = self._driver.cursor()
        return self._cursor

    def _close_writer(self) -> None:
        """Drop the writer connection after an error (the next write opens another one)."""
        self._cursor = self._driver = None
        if self._writer is not None:
            self._writer.invalidate()
            self._writer = None

    def _write_locked(self, jobs: list[_Job]) -> None:
        self._flock()
        try:
            try:
                self._transaction(jobs)
            except Exception:
                if len(jobs) == 1:
                    raise
                # One job's rows must not fail the others: retry each in its own transaction.
                for job in jobs:
                    try:
                        self._transaction([job])
                    except Exception as exc:
                        job.error = exc
        except Exception as exc:
            for job in jobs:
                job.error = exc
        finally:
            self._funlock()
            for job in jobs:
                job.done = True
        if self._checkpointer is not None:
            self._checkpointer.wrote()

    def _transaction(self, jobs: list[_Job]) -> None:
        if len(jobs) == 1 and len(jobs[0].rows) == 1:
            jobs[0].stored, jobs[0].last_id = self._autocommit_one(jobs[0].rows[0])
            jobs[0].identity = self._identity
            return
        cursor = self._cursor if self._writer is not None else self._open_writer()
        driver = self._driver
        for job in jobs:
            job.identity = self._identity
        cursor.execute("BEGIN IMMEDIATE")
        try:
            for job in jobs:
                before = driver.total_changes
                if len(job.rows) == 1:
                    cursor.execute(self._insert_sql, job.rows[0])
                else:
                    self._insert_many(cursor, job.rows)
                job.stored = driver.total_changes - before
                job.last_id = cursor.lastrowid
            cursor.execute("COMMIT")
        except BaseException:
            try:
                cursor.execute("ROLLBACK")
            finally:
                self._close_writer()
            raise

    def _insert_one(self, row: Row) -> tuple[str, Sequence[Any]]:
        """The INSERT of one row with its ``None`` values written ``NULL`` in the SQL, and the rest.

        The sqlite3 module binds ``None`` through its adapter protocol (two failed attribute lookups
        and their AttributeError messages per value): a log record has about nine of them. The
        statements, one per pattern of ``None`` values, are few, and kept (up to a bound).
        """
        nulls, values = _batch_core.null_pattern(row)
        sql = self._insert_by_nulls.get(nulls)
        if sql is None:
            if len(self._insert_by_nulls) >= _MAX_NULL_PATTERNS:
                return self._insert_sql, row
            sql = self._insert_rows(nulls, 1)
            self._insert_by_nulls[nulls] = sql
        return sql, values

    def _insert_many(self, cursor: Any, rows: Sequence[Row]) -> None:
        """The rows, in order, by many-row ``INSERT`` statements, one run of rows with the same
        ``None`` values at a time.

        Those are written ``NULL`` in the SQL (see :meth:`_insert_one`): a batch from one service
        has a few patterns, in long runs. A run is inserted by statements of 64, 32, ... 1 rows
        (a few statements kept per pattern): one SQLite statement per row spends ~10% of the
        insert opening and closing the table and index cursors (callgrind).
        """
        for nulls, values, run_rows in _batch_core.null_runs(rows):
            width = len(INSERT_COLUMNS) - nulls.bit_count()
            start = 0
            size = _MANY_ROWS
            count = run_rows
            while count:
                while size > count:
                    size //= 2
                chunks = count // size
                end = start + chunks * size * width
                sql = self._insert_rows(nulls, size)
                if chunks == 1:
                    cursor.execute(sql, values[start:end])
                else:
                    step = size * width
                    cursor.executemany(sql, [values[i : i + step] for i in range(start, end, step)])
                start = end
                count -= chunks * size

    def _insert_rows(self, nulls: int, size: int) -> str:
        """The INSERT of ``size`` rows whose values ``nulls`` (bit i: value i) are ``NULL``."""
        sql = self._insert_by_rows.get((nulls, size))
        if sql is None:
            null = [nulls >> i & 1 for i in range(len(INSERT_COLUMNS))]
            marks = "(" + ", ".join("NULL" if is_null else "?" for is_null in null) + ")"
            sql = self._insert_sql.replace(self._marks, ", ".join([marks] * size), 1)
            if len(self._insert_by_rows) < _MAX_NULL_PATTERNS * 7:
                self._insert_by_rows[nulls, size] = sql
        return sql

    def dispose(self) -> None:
        if self._checkpointer is not None:  # first: its last pass may take the write lock
            self._checkpointer.stop()
            self._checkpointer = None
        with self._write_lock:
            if self._writer is not None:
                self._writer.close()
                self._writer = self._driver = self._cursor = None
            if self._lock_file is not None:
                self._lock_file.close()
                self._lock_file = None
        super().dispose()


@dataclass
class _Job:
    """Rows of one caller waiting for the group commit, and what became of them."""

    rows: Sequence[Row]
    done: bool = False
    stored: int = 0
    last_id: int | None = None
    error: BaseException | None = None
    identity: tuple[int, int] | None = None  # the database file the rows went to


class PostgresStorage(Storage):
    """PostgreSQL: JSONB ``data``; ``INSERT ... ON CONFLICT (uuid) DO NOTHING``.

    A single record is one ``INSERT ... VALUES ... RETURNING id``. A batch is copied (``COPY``,
    text format) into a per-connection temporary table, then moved with one ``INSERT ... SELECT
    ... ON CONFLICT DO NOTHING``: a fraction of the client and server CPU of a many-row ``VALUES``
    statement, whose parameters are quoted one by one in Python and parsed back by the server.
    """

    dialect = "postgresql"

    def __init__(self, url: str) -> None:
        engine = sa.create_engine(
            url, pool_size=10, max_overflow=20, pool_pre_ping=True, json_deserializer=json_loads
        )
        super().__init__(engine)
        columns = ", ".join(INSERT_COLUMNS)
        values = ", ".join("%s::jsonb" if c == "data" else "%s" for c in INSERT_COLUMNS)
        self._insert_one_sql = (
            f"INSERT INTO {TABLE_NAME} ({columns}) VALUES ({values}) "
            "ON CONFLICT (uuid) DO NOTHING RETURNING id"
        )
        self._create_incoming_sql = (
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {_INCOMING} ON COMMIT DELETE ROWS AS "
            f"SELECT {columns} FROM {TABLE_NAME} WITH NO DATA"
        )
        self._copy_sql = f"COPY {_INCOMING} ({columns}) FROM STDIN"
        self._move_sql = (
            f"INSERT INTO {TABLE_NAME} ({columns}) SELECT {columns} FROM {_INCOMING} "
            "ON CONFLICT (uuid) DO NOTHING"
        )

    def insert(self, rows: Sequence[Row]) -> InsertResult:
        if not rows:
            return InsertResult(0, 0)
        raw = self.engine.raw_connection()
        try:
            driver = raw.driver_connection
            assert driver is not None
            cursor = driver.cursor()
            try:
                if len(rows) == 1:
                    cursor.execute(self._insert_one_sql, rows[0])
                    found = cursor.fetchone()
                    stored = 1 if found else 0
                else:
                    created = not raw.info.get(_INCOMING)  # once per connection (session)
                    if created:
                        cursor.execute(self._create_incoming_sql)
                    cursor.copy_expert(self._copy_sql, io.StringIO(tsv_text(rows)))
                    cursor.execute(self._move_sql)
                    stored = cursor.rowcount
                raw.commit()
                if len(rows) > 1 and created:
                    raw.info[_INCOMING] = True
            except BaseException:
                raw.rollback()
                raise
        finally:
            raw.close()
        first_id: int | None = None
        if len(rows) == 1:
            first_id = int(found[0]) if found else (self._existing_id(rows[0][0]) if rows[0][0] else None)
        return InsertResult(stored, len(rows) - stored, first_id)


_INCOMING = "c2c_log_record_incoming"


def open_storage(url: str) -> Storage:
    """The backend for a SQLAlchemy URL (``sqlite:///...`` or ``postgresql://...``), or a
    ClickHouse one (``clickhouse://...``, ``chdb://...``: see storage/clickhouse.py)."""
    if url.split(":", 1)[0].lower() in ("clickhouse", "clickhouses", "chdb"):
        from c2cwsgiutils.collector.storage.clickhouse import ClickHouseStorage

        return ClickHouseStorage(url)
    drivername = make_url(url).drivername
    if drivername.startswith("sqlite"):
        return SQLiteStorage(url)
    if drivername.startswith("postgresql"):
        if "+" in drivername and drivername != "postgresql+psycopg2":
            raise ValueError(f"the collector needs psycopg2 for PostgreSQL (got {drivername})")
        # SQLAlchemy 2.1 defaults to psycopg 3; the collector's bulk insert uses psycopg2.
        return PostgresStorage(make_url(url).set(drivername="postgresql+psycopg2").render_as_string(False))
    raise ValueError(
        f"unsupported collector database {drivername!r}: use sqlite://, postgresql://, clickhouse:// or chdb://"
    )


def check_writable(url: str) -> None:
    """Raise ValueError, saying what to fix, when a SQLite database (file or directory) cannot be
    written: the collector would start, then answer every POST with an error."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite") or not parsed.database or parsed.database == ":memory:":
        return
    path = Path(parsed.database)
    directory = path.parent
    try:
        directory.mkdir(parents=True, exist_ok=True)
        # WAL mode creates <database>-wal and -shm beside the file; the writers' lock file too.
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as exc:
        raise ValueError(
            f"the directory of the SQLite database, {directory}, is not writable ({exc.strerror}): "
            "SQLite creates its -wal and -shm files there; make it writable by this user or set "
            "C2C_COLLECTOR_DB_URL to a writable place"
        ) from None
    for name in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        if not name.exists():
            continue
        try:
            with open(name, "r+b"):
                pass
        except OSError as exc:
            raise ValueError(
                f"the SQLite database file {name} is read-only ({exc.strerror}): make it writable by "
                "this user, or set C2C_COLLECTOR_DB_URL to a writable database"
            ) from None


def migrate(url_or_storage: str | Storage) -> None:
    """Apply every alembic migration of the collector (idempotent)."""
    from alembic import command
    from alembic.config import Config

    storage = open_storage(url_or_storage) if isinstance(url_or_storage, str) else url_or_storage
    migrate_schema = getattr(storage, "migrate_schema", None)  # ClickHouse: its own DDL, no alembic
    if migrate_schema is not None:
        migrate_schema()
        if isinstance(url_or_storage, str):
            storage.dispose()
        LOG.info("Collector schema up to date (%s)", storage.dialect)
        return
    alembic_config = Config()
    alembic_config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    with storage.engine.begin() as connection:
        alembic_config.attributes["connection"] = connection
        command.upgrade(alembic_config, "head")
    if isinstance(url_or_storage, str):
        storage.dispose()
    LOG.info("Collector schema up to date (%s)", storage.dialect)
