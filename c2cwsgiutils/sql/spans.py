"""SQL spans: each statement of an instrumented engine is a child span of the current one.

The statement is timed by :class:`c2cwsgiutils.sql.hooks.DialectHooks` around the DB-API
``execute`` (no SQLAlchemy ``Connection`` event: those switch SQLAlchemy onto its slow statement
path) and ends in one span event through the logger ``c2cwsgiutils.spans``, as every span does
(:mod:`c2cwsgiutils.spans`), with the fields:

- ``span_name`` ``sql``, ``span_kind`` ``sql``, ``duration_ms``, ``start``, ``status`` (``error``
  and ``error_type`` when the statement raised);
- ``sql``: the statement :func:`normalised <c2cwsgiutils.sql.normalise.normalise>` (no values:
  literals and parameters are ``?``), at most :data:`MAX_STATEMENT` characters;
- ``sql_rows``: ``cursor.rowcount`` when the driver knows it (not for SQLite's SELECTs);
- ``sql_database``: the database of the engine's URL; ``sql_dialect``: ``postgresql``, ``sqlite`` ...;
- ``sql_role``: ``master`` or ``slave`` for the engines :func:`c2cwsgiutils.db.setup_session` made.

A statement is recorded only inside a trace (a request, a task, a span) whose ``sampled`` flag is
on, while span events are on; not SQLAlchemy's own set-up queries on a new connection
(``select pg_catalog.version()``, ``show standard_conforming_strings``, ``select current_schema()``
...). ``C2C_SQL_SPANS_MIN_DURATION`` skips the faster statements; past
``C2C_SQL_SPANS_MAX_PER_REQUEST`` spans in one request (per process), no more are recorded and one
``sql capped`` event says so.
"""

from __future__ import annotations

import contextvars
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from c2cwsgiutils import config, context
from c2cwsgiutils import spans as _spans
from c2cwsgiutils._guard import internal_error
from c2cwsgiutils.sql.normalise import normalise

__all__ = ["MAX_STATEMENT", "SqlSpanSettings", "SqlSpans", "includeme"]

ENABLED = config.declare(
    "C2C_SQL_SPANS",
    "c2c.sql_spans",
    True,
    config.as_bool,
    "Record each SQL statement of the instrumented SQLAlchemy engines (with the Pyramid include: every "
    "engine of the process) as a span (normalised statement, duration, rows, database, master/slave), "
    "while span events are on.",
    feature="sql",
)
MIN_DURATION = config.declare(
    "C2C_SQL_SPANS_MIN_DURATION",
    "c2c.sql_spans_min_duration",
    0.0,
    config.bounded(config.as_float, 0),
    "Record as a span only the SQL statements that took at least this many milliseconds (0: all).",
    feature="sql",
)
MAX_PER_REQUEST = config.declare(
    "C2C_SQL_SPANS_MAX_PER_REQUEST",
    "c2c.sql_spans_max_per_request",
    200,
    config.bounded(config.as_int, 0),
    "At most this many SQL spans per request (or task) and process; past it, one `sql capped` event.",
    feature="sql",
)

MAX_STATEMENT = 2000
"""Normalised statements longer than this are cut (with ``...``)."""

_core: Any = getattr(_spans, "_core")  # noqa: B009 - the span hot path that runs (compiled or plain)
_LOG: Any = _spans.LOG
_INFO = logging.INFO
_ENABLED_CACHE: dict[int, Any] = getattr(_spans.LOG, "_cache", {})
_get_context = context.current
_set_context = context.start
_reset_context = context.restore
_span_context = context.span_context
_perf_counter = time.perf_counter
_time = time.time
_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class SqlSpanSettings:
    """The parsed SQL spans settings."""

    enabled: bool = True
    min_duration_ms: float = 0.0
    max_per_request: int = 200

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any] | None) -> SqlSpanSettings:
        """Read the settings (environment variable > ini key > default)."""
        return cls(
            enabled=ENABLED.get(settings),
            min_duration_ms=MIN_DURATION.get(settings),
            max_per_request=MAX_PER_REQUEST.get(settings),
        )


class _Budget:
    """How many SQL spans the current request (trace and task) recorded in this process."""

    __slots__ = ("capped", "emitted", "task_id", "trace_id")

    def __init__(self, trace_id: str, task_id: str) -> None:
        self.trace_id = trace_id
        self.task_id = task_id
        self.emitted = 0
        self.capped = False


_BUDGET: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar(
    "c2cwsgiutils_sql_spans", default=None
)


def _new_span_id() -> str:
    ids = _core._IDS
    try:
        span_id: str = ids.pop()
    except IndexError:
        span_id = _core._draw(ids, 16)
    return span_id if span_id != "0" * 16 else "0" * 15 + "1"


class SqlSpans:
    """The SQL spans of one dialect (engine): its settings, database and role."""

    __slots__ = ("database", "dialect", "max_per_request", "min_duration_s", "role")

    def __init__(self, settings: SqlSpanSettings, dialect: str = "") -> None:
        self.min_duration_s = settings.min_duration_ms / 1000.0
        self.max_per_request = settings.max_per_request
        self.dialect = dialect
        self.database: str | None = None
        self.role = ""

    def configure(self, settings: SqlSpanSettings) -> None:
        """Take new threshold and cap."""
        self.min_duration_s = settings.min_duration_ms / 1000.0
        self.max_per_request = settings.max_per_request

    def record(
        self, cursor: Any, statement: Any, execution_context: Any, t0: float, error: BaseException | None
    ) -> None:
        """Emit the span of a statement that started at ``t0`` (``perf_counter``) and just ended."""
        elapsed = _perf_counter() - t0
        try:
            ctx = _get_context()
            if not ctx.trace_id or not ctx.sampled or not _core.STATE.events:
                return
            enabled = _ENABLED_CACHE.get(_INFO)
            if enabled is None:
                enabled = _LOG.isEnabledFor(_INFO)
            if not enabled or _LOG.disabled:
                return
            if elapsed < self.min_duration_s and error is None:
                return
            self._record(ctx, cursor, statement, execution_context, elapsed, error)
        except Exception:  # the span must never fail the statement it watches
            internal_error("recording a SQL span", _LOGGER)

    def _record(  # noqa: PLR0917 - positional, as record()
        self,
        ctx: Any,
        cursor: Any,
        statement: Any,
        execution_context: Any,
        elapsed: float,
        error: BaseException | None,
    ) -> None:
        connection = getattr(execution_context, "root_connection", None)
        if connection is not None and not getattr(connection, "_allow_autobegin", True):
            return  # SQLAlchemy's own set-up queries on a new connection (dialect initialization)
        budget = _BUDGET.get()
        if budget is None or budget.trace_id != ctx.trace_id or budget.task_id != ctx.task_id:
            budget = _Budget(ctx.trace_id, ctx.task_id)
            _BUDGET.set(budget)
        if budget.emitted >= self.max_per_request:
            if not budget.capped:
                budget.capped = True
                self._emit(
                    ctx, "sql capped", elapsed, {"span_kind": "sql", "sql_cap": self.max_per_request}, ""
                )
            return
        budget.emitted += 1
        if self.database is None:
            self.database = _database_of(connection)
        fields: dict[str, Any] = {"span_kind": "sql", "sql": _text(statement, cursor)}
        rows = getattr(cursor, "rowcount", -1)
        if isinstance(rows, int) and rows >= 0:
            fields["sql_rows"] = rows
        if self.database:
            fields["sql_database"] = self.database
        fields["sql_dialect"] = self.dialect
        if self.role:
            fields["sql_role"] = self.role
        self._emit(ctx, "sql", elapsed, fields, "" if error is None else type(error).__name__)

    @staticmethod
    def _emit(ctx: Any, name: str, elapsed: float, fields: dict[str, Any], error_type: str) -> None:
        span_id = _new_span_id()
        path = f"{ctx.span_path}.sql" if ctx.span_path else "sql"
        token = _set_context(_span_context(ctx, ctx.trace_id, span_id, ctx.span_id, path))
        try:
            now = _time()
            duration_ms = elapsed * 1000.0
            _core.EMITTER.emit(
                name,
                now - elapsed,
                duration_ms,
                "error" if error_type else "ok",
                error_type,
                fields,
                now,
                int(duration_ms * 1000.0 + 0.5) / 1000.0,
            )
        finally:
            _reset_context(token)


def _text(statement: Any, cursor: Any) -> str:
    if not isinstance(statement, str):
        as_string = getattr(statement, "as_string", None)  # psycopg's sql.Composed
        try:
            statement = as_string(cursor) if as_string is not None else str(statement)
        except Exception:  # a statement object we cannot print: its type says enough
            return type(statement).__name__
    text = normalise(statement)
    return text if len(text) <= MAX_STATEMENT else text[:MAX_STATEMENT] + "..."


def _database_of(connection: Any) -> str:
    try:
        return str(connection.engine.url.database or "")
    except Exception:  # no engine at hand: the field is left out
        return ""


def attach(dialect_hooks: Any, settings: SqlSpanSettings, role: str | None = None) -> None:
    """Turn SQL spans on (or off, per ``settings.enabled``) in a :class:`.hooks.DialectHooks`."""
    if not settings.enabled:
        dialect_hooks.spans = None
        return
    current = dialect_hooks.spans
    if current is None:
        current = dialect_hooks.spans = SqlSpans(settings, dialect_hooks.dialect_name)
    else:
        current.configure(settings)
    if role:
        current.role = role


def includeme(config_: Any) -> None:
    """Pyramid include: with SQL spans on, every engine of the process gets them at its first connection."""
    settings = config.cached(config_.registry, SqlSpanSettings.from_settings)
    if not settings.enabled:
        return
    try:
        import sqlalchemy  # noqa: F401 - only to know whether there are engines to trace
    except ImportError:
        _LOGGER.info("SQL spans disabled: the 'SQLAlchemy' package is not installed")
        return
    from c2cwsgiutils import sql

    sql.instrument_new_engines(config_.registry)
