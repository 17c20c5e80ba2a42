"""A time limit on every read of the collector's database (``C2C_COLLECTOR_QUERY_TIMEOUT``).

A filter can make a read scan millions of rows, and one such read held a server thread for
minutes (issue #18). Reads (the storage's ``reader``, marked ``c2c_read``) get a deadline:

- SQLite: a progress handler, called every few thousand virtual-machine steps, interrupts the
  statement once the deadline of its connection has passed (SQLite executes while rows are
  fetched, so the deadline holds until the connection goes back to the pool);
- PostgreSQL: ``SET LOCAL statement_timeout`` in the read's transaction.

Writes, migrations and retention run without a limit. The API answers a read cut short with a
503 ``query_timeout`` (see :func:`is_query_timeout`).
"""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa

__all__ = ["install", "is_query_timeout"]

_DEADLINE = "c2c_read_deadline"
_STEPS = 10_000


def install(storage: Any, seconds: float) -> None:
    """Limit every read of ``storage`` (a collector Storage) to ``seconds``."""
    engine = storage.engine
    if storage.dialect == "sqlite":
        _install_sqlite(engine, seconds)
    elif storage.dialect == "postgresql":
        _install_postgresql(engine, seconds)
    elif hasattr(storage, "set_read_timeout"):  # ClickHouse: max_execution_time on reads
        storage.set_read_timeout(seconds)


def _install_sqlite(engine: sa.Engine, seconds: float) -> None:
    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, record: Any) -> None:
        deadline = record.info[_DEADLINE] = [0.0]
        monotonic = time.monotonic

        def past_deadline() -> bool:
            return 0.0 < deadline[0] < monotonic()

        dbapi_connection.set_progress_handler(past_deadline, _STEPS)

    @sa.event.listens_for(engine, "checkin")
    def _checkin(_dbapi_connection: Any, record: Any) -> None:
        deadline = record.info.get(_DEADLINE)
        if deadline is not None:
            deadline[0] = 0.0

    @sa.event.listens_for(engine, "before_cursor_execute")
    def _before(connection: Any, *_args: Any) -> None:
        deadline = connection.info.get(_DEADLINE)
        if deadline is not None:
            read = connection.get_execution_options().get("c2c_read")
            deadline[0] = time.monotonic() + seconds if read else 0.0


def _install_postgresql(engine: sa.Engine, seconds: float) -> None:
    milliseconds = max(1, int(seconds * 1000))

    @sa.event.listens_for(engine, "before_cursor_execute")
    def _before(connection: Any, cursor: Any, *_args: Any) -> None:
        if connection.get_execution_options().get("c2c_read"):
            cursor.execute(f"SET LOCAL statement_timeout = {milliseconds}")


def is_query_timeout(error: BaseException) -> bool:
    """Whether ``error`` is a read cut short by the time limit."""
    if not isinstance(error, sa.exc.OperationalError):
        return False
    original = error.orig
    return type(original).__name__ == "QueryCanceled" or "interrupted" in str(original)
