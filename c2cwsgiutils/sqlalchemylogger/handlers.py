"""A logging handler that writes the records into a database table (6.x's ``SQLAlchemyHandler``).

Usage, from the application's start-up (not from the logging ini: each process needs its own
writer thread)::

    handler = SQLAlchemyHandler(
        {"url": "postgresql://user:pass@db/logs", "tablename": "logs", "tableargs": {"schema": "app"}},
        does_not_contain_expression="curl",
    )
    logging.getLogger("myapp").addHandler(handler)

The table (``id``, ``logger``, ``level``, ``trace``, ``msg``, ``created_at``) is 6.x's; it is
created at the first write that finds it missing, with its schema and, on PostgreSQL, its database.
``emit`` never touches the database: a daemon thread writes the records in batches of at most
``MAX_NB_LOGS``, at least every ``MAX_TIMEOUT`` seconds. Past ``MAX_QUEUE`` waiting records, new
ones are dropped (counted in :attr:`SQLAlchemyHandler.dropped`) instead of growing without bound.
A database that cannot be written costs the records of that batch, with one line on stderr.
"""

from __future__ import annotations

import logging
import queue
import re
import sys
import threading
import time
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm

__all__ = ["ContainsExpression", "DoesNotContainExpression", "SQLAlchemyHandler"]


class ContainsExpression(logging.Filter):
    """Keep only the records whose message matches the regular expression."""

    def __init__(self, regex: str) -> None:
        super().__init__(name="ContainsExpression")
        self.regex = re.compile(regex)

    def filter(self, record: logging.LogRecord) -> bool:
        return self.regex.search(record.getMessage()) is not None


class DoesNotContainExpression(logging.Filter):
    """Drop the records whose message matches the regular expression."""

    def __init__(self, regex: str) -> None:
        super().__init__(name="DoesNotContainExpression")
        self.regex = re.compile(regex)

    def filter(self, record: logging.LogRecord) -> bool:
        return self.regex.search(record.getMessage()) is None


def _log_table(tablename: str, tableargs: Any) -> sa.Table:
    schema = tableargs.get("schema") if isinstance(tableargs, Mapping) else None
    return sa.Table(
        tablename,
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("logger", sa.String),
        sa.Column("level", sa.String),
        sa.Column("trace", sa.String),
        sa.Column("msg", sa.String),
        sa.Column("created_at", sa.DateTime, server_default=sa.func.now()),
        schema=schema,
    )


class SQLAlchemyHandler(logging.Handler):
    """Write log records into the table ``sqlalchemy_url["tablename"]`` (default ``logs``) of the
    database ``sqlalchemy_url["url"]``; ``sqlalchemy_url["tableargs"]`` may name its ``schema``."""

    MAX_NB_LOGS = 100
    MAX_TIMEOUT = 1.0
    MAX_QUEUE = 10_000

    def __init__(
        self,
        sqlalchemy_url: Mapping[str, Any],
        does_not_contain_expression: str = "",
        contains_expression: str = "",
    ) -> None:
        super().__init__()
        self.engine = sa.create_engine(sqlalchemy_url["url"])
        # 6.x's attribute, for reading the table back (tests); the writer thread has its own connections.
        self.session = sa.orm.Session(self.engine)
        self.table = _log_table(sqlalchemy_url.get("tablename", "logs"), sqlalchemy_url.get("tableargs"))
        self.dropped = 0
        self._queue: queue.Queue[dict[str, Any]] = queue.Queue(self.MAX_QUEUE)
        self._pending = 0  # queued or being written, for flush()
        self._pending_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._write_loop, name="c2c-sqlalchemy-logger", daemon=True)
        self._thread.start()
        if does_not_contain_expression:
            self.addFilter(DoesNotContainExpression(does_not_contain_expression))
        if contains_expression:
            self.addFilter(ContainsExpression(contains_expression))

    def emit(self, record: logging.LogRecord) -> None:
        if threading.current_thread() is self._thread:
            return  # what the writer itself logs (SQLAlchemy's echo ...) would feed itself
        try:
            row = {
                "logger": record.name,
                "level": record.levelname,
                "trace": logging.Formatter().formatException(record.exc_info) if record.exc_info else None,
                "msg": record.getMessage(),
            }
        except Exception:
            self.handleError(record)
            return
        with self._pending_lock:
            self._pending += 1
        try:
            self._queue.put_nowait(row)
        except queue.Full:
            with self._pending_lock:
                self._pending -= 1
            self.dropped += 1

    def _write_loop(self) -> None:
        while not (self._stop.is_set() and self._queue.empty()):
            batch: list[dict[str, Any]] = []
            deadline = time.monotonic() + self.MAX_TIMEOUT
            while len(batch) < self.MAX_NB_LOGS:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (self._stop.is_set() and self._queue.empty()):
                    break
                try:
                    batch.append(self._queue.get(timeout=min(remaining, 0.2)))
                except queue.Empty:
                    continue
            if batch:
                self._write(batch)
                with self._pending_lock:
                    self._pending -= len(batch)

    def _write(self, batch: list[dict[str, Any]]) -> None:
        try:
            try:
                with self.engine.begin() as connection:
                    connection.execute(self.table.insert(), batch)
            except sa.exc.SQLAlchemyError:
                self.create_db()
                with self.engine.begin() as connection:
                    connection.execute(self.table.insert(), batch)
        except Exception as exc:  # the application must go on when its log database is down
            print(
                f"SQLAlchemyHandler: {len(batch)} log records lost ({type(exc).__name__}: {exc})",
                file=sys.stderr,
            )

    def create_db(self) -> None:
        """Create what is missing: the database (PostgreSQL), the schema, the table."""
        url = self.engine.url
        if url.get_backend_name() == "postgresql" and url.database:
            try:
                with self.engine.connect():
                    pass
            except sa.exc.OperationalError:
                admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
                try:
                    with admin.connect() as connection:
                        name = admin.dialect.identifier_preparer.quote(url.database)
                        connection.exec_driver_sql(f"CREATE DATABASE {name}")
                finally:
                    admin.dispose()
        with self.engine.begin() as connection:
            if self.table.schema and not self.engine.dialect.has_schema(connection, self.table.schema):
                connection.execute(sa.schema.CreateSchema(self.table.schema))
            self.table.create(connection, checkfirst=True)

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until every record emitted so far is written (at most ``timeout`` seconds)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self._thread.is_alive():
            with self._pending_lock:
                if self._pending <= 0:
                    return
            time.sleep(0.02)

    def close(self) -> None:
        """Write what is queued, stop the writer thread, release the connections."""
        self._stop.set()
        self._thread.join(self.MAX_TIMEOUT + 10)
        self.session.close()
        self.engine.dispose()
        super().close()
