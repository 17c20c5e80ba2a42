"""SQL profiler: while it is on, each distinct SELECT is explained once (``EXPLAIN ANALYZE``).

Switched on and off in every worker process at once by the view ``{C2C_BASE_PATH}/sql_profiler``
(``?enable=1`` / ``?enable=0``, behind ``SQL_PROFILER_SECRET`` or ``C2C_SECRET``) through
:mod:`c2cwsgiutils.broadcast`. The plan goes to the logger ``c2cwsgiutils.sql_profiler`` with the
request ID. Statements are told apart by their normalised text (:mod:`c2cwsgiutils.sql.normalise`,
the same as the SQL metrics' and spans'), so a SELECT is explained once however often it runs.

The ``EXPLAIN ANALYZE`` runs on a connection of its own (a tiny pool per engine, application_name
``c2cwsgiutils-sql-profiler``), in a read-only transaction with a lock timeout, and is rolled back:
it cannot write and cannot wait for a lock held by the request itself. Any failure is logged, never
raised into the application. Only engines passed to :func:`c2cwsgiutils.sql.instrument` (or built by
:func:`c2cwsgiutils.db.setup_session`) are profiled.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from c2cwsgiutils import admin, auth, broadcast, config
from c2cwsgiutils import context as c2c_context
from c2cwsgiutils.sql.normalise import normalise

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

__all__ = ["attach", "execute_profiled", "includeme", "is_enabled", "is_select", "normalize", "set_enabled"]

LOG = logging.getLogger(__name__)
PROFILE_LOG = logging.getLogger("c2cwsgiutils.sql_profiler")

SQL_PROFILER_SECRET = config.declare(
    "SQL_PROFILER_SECRET",
    "c2c.sql_profiler_secret",
    "",
    config.as_str,
    "Secret of the SQL profiler view (C2C_SECRET works too). Neither set: the view answers 404.",
    secret=True,
    feature="sql",
)
SQL_PROFILER_MIN_DURATION = config.declare(
    "C2C_SQL_PROFILER_MIN_DURATION",
    "c2c.sql_profiler_min_duration",
    0.0,
    config.bounded(config.as_float, 0),
    "While the SQL profiler is on, explain only the SELECTs that took at least this many milliseconds.",
    feature="sql",
)

APPLICATION_NAME = "c2cwsgiutils-sql-profiler"
_SETUP = "SET TRANSACTION READ ONLY; SET LOCAL lock_timeout = '2s'; SET LOCAL statement_timeout = '60s'"


@dataclass(frozen=True)
class ProfilerSettings:
    """The parsed profiler settings."""

    min_duration_ms: float = 0.0

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> ProfilerSettings:
        """Read the settings (environment variable > ini key > default)."""
        return cls(min_duration_ms=SQL_PROFILER_MIN_DURATION.get(settings))


class _State:
    enabled = False
    min_duration_s = 0.0
    seen: set[str] = set()
    lock = threading.Lock()


# ---- statement classification ------------------------------------------------------------


def normalize(statement: str) -> str:
    """The statement as :func:`c2cwsgiutils.sql.normalise.normalise` gives it (explained once)."""
    return normalise(statement)


_LEADING = re.compile(r"(?:\s+|/\*.*?\*/|--[^\n]*\n|\()*", re.S)


def is_select(statement: str) -> bool:
    """Whether the statement is a SELECT (after leading blanks, comments and parentheses)."""
    start = _LEADING.match(statement)
    offset = start.end() if start else 0
    return statement[offset : offset + 6].lower() == "select" and (
        len(statement) == offset + 6 or not statement[offset + 6].isalnum()
    )


# ---- state -------------------------------------------------------------------------------


def is_enabled() -> bool:
    """Whether the profiler is on in this process."""
    return _State.enabled


def set_enabled(enable: bool) -> bool:
    """Turn the profiler on or off in this process only; turning it on forgets what was explained."""
    with _State.lock:
        if enable and not _State.enabled:
            _State.seen = set()
        _State.enabled = enable
        idle = [] if enable else list(_PROFILER_ENGINES.values())
        if idle:
            _PROFILER_ENGINES.clear()
    for profiler_engine in idle:  # free the profiler's connections while it is off
        profiler_engine.dispose()
    LOG.info("SQL profiler %s", "enabled" if enable else "disabled")
    return enable


@broadcast.decorator(expect_answers=True, name="c2cwsgiutils.sql_profiler.set_enabled")
def _set_enabled_everywhere(enable: bool) -> bool:
    return set_enabled(enable)


# ---- hooks -------------------------------------------------------------------------------

_PROFILER_ENGINES: dict[str, Engine] = {}
_LOCAL = threading.local()


def attach(engine: Engine) -> None:
    """Let the profiler see the statements of ``engine`` (one flag check per statement while off)."""
    from c2cwsgiutils.sql import hooks

    hooks.hooks_for(engine.dialect).profile = True


def execute_profiled(cursor: Any, statement: Any, parameters: Any, has_params: bool, context: Any) -> None:
    """Execute the statement on ``cursor`` as the dialect would, then explain it if it is a new SELECT."""
    start = time.perf_counter()
    if has_params:
        cursor.execute(statement, parameters)
    else:
        cursor.execute(statement)
    duration = time.perf_counter() - start
    if getattr(_LOCAL, "active", False):
        return  # a statement of the profiler itself
    _LOCAL.active = True
    try:
        connection = context.root_connection
        if not getattr(connection, "_allow_autobegin", True):
            return  # SQLAlchemy's own set-up queries on a new connection (dialect initialization)
        _profile(connection.engine, cursor, statement, parameters if has_params else None, duration)
    except Exception:  # the profiler must never fail the request it watches (EXPLAIN of a temporary table...)
        LOG.warning("SQL profiler failed", exc_info=True)
    finally:
        _LOCAL.active = False


def _profile(engine: Engine, cursor: Any, statement: Any, parameters: Any, duration: float) -> None:
    if not isinstance(statement, str):
        from c2cwsgiutils.sql.tagging import _as_string

        statement = _as_string(statement, cursor)
        if statement is None:
            return
    if not is_select(statement):
        return
    if _State.min_duration_s and duration < _State.min_duration_s:
        return
    key = normalize(statement)
    with _State.lock:
        if key in _State.seen:
            return
        _State.seen.add(key)
    plan = _explain(engine, statement, parameters)
    PROFILE_LOG.info(
        "SQL profile of request %s (%.1f ms):\n%s\n%s",
        c2c_context.current().request_id or "-",
        duration * 1000,
        statement,
        plan,
        extra={"sql": statement, "sql_plan": plan, "duration_ms": round(duration * 1000, 3)},
    )


def _profiler_engine(engine: Engine) -> Engine:
    from sqlalchemy import create_engine

    key = engine.url.render_as_string(hide_password=False)
    with _State.lock:
        found = _PROFILER_ENGINES.get(key)
        if found is None:
            found = create_engine(
                engine.url,
                pool_size=1,
                max_overflow=1,
                pool_timeout=5,
                pool_pre_ping=True,
                connect_args={"application_name": APPLICATION_NAME},
            )
            _PROFILER_ENGINES[key] = found
        return found


def _explain(engine: Engine, statement: str, parameters: Any) -> str:
    raw = _profiler_engine(engine).raw_connection()
    try:
        cursor = raw.cursor()
        try:
            cursor.execute(_SETUP)
            if parameters is None:
                cursor.execute("EXPLAIN ANALYZE " + statement)
            else:
                cursor.execute("EXPLAIN ANALYZE " + statement, parameters)
            return "\n".join(str(row[0]) for row in cursor.fetchall())
        finally:
            cursor.close()
    finally:
        try:
            raw.rollback()
        finally:
            raw.close()


# ---- view --------------------------------------------------------------------------------


def _view(request: Any) -> dict[str, Any]:
    from pyramid.httpexceptions import HTTPBadRequest

    enable = request.params.get("enable")
    if enable is None:
        return {"status": 200, "enabled": _State.enabled, "min_duration_ms": _State.min_duration_s * 1000}
    try:
        value = config.as_bool(enable)
    except ValueError:
        raise HTTPBadRequest(f"enable must be {config.as_bool.accepted}") from None
    return {"status": 200, "enabled": value, "processes": _set_enabled_everywhere(enable=value)}


def includeme(config_: Any) -> None:
    """Pyramid include: the ``sql_profiler`` admin view and the threshold setting."""
    settings = config.cached(config_.registry, ProfilerSettings.from_settings)
    _State.min_duration_s = settings.min_duration_ms / 1000
    if auth.configured_secret(config_.registry, SQL_PROFILER_SECRET):
        from c2cwsgiutils import sql

        sql.instrument_new_engines(config_.registry)  # profile the application's own engines too
    config_.include("c2cwsgiutils.broadcast")
    admin.add_admin_view(
        config_,
        "sql_profiler",
        "sql_profiler",
        _view,
        title="SQL profiler",
        methods=("GET", "POST"),
        params=("enable",),
        secret=SQL_PROFILER_SECRET,
    )
