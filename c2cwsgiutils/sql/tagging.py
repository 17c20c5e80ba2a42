"""Statement tagging: every SQL statement carries the ID of the request or task that sent it.

Two carriers, chosen by ``C2C_SQL_REQUEST_ID_MODE`` (enabled by ``C2C_SQL_REQUEST_ID``):

``application_name``
    The PostgreSQL ``application_name`` of the connection, e.g.
    ``rid=3f2a...,kind=web,pid=4242`` (63 bytes max, printable ASCII; fields that do not fit are
    dropped, ``task=`` first). It is changed with ``set_config()`` only when the connection's
    current value differs, so a pooled connection reused by the same request costs no extra round
    trip. Shown by ``%a`` in ``log_line_prefix`` and in ``pg_stat_activity``.

``comment``
    A `sqlcommenter <https://google.github.io/sqlcommenter/spec/>`_ comment such as
    ``/*kind='web',request_id='3f2a...',route='hello',traceparent='00-...'*/``: keys sorted, values
    URL-encoded and single-quoted. Placed at the start of the statement by default
    (``C2C_SQL_COMMENT_POSITION``) so that PostgreSQL's truncation of ``pg_stat_activity.query``
    cannot cut it off. A statement that already holds a comment is left alone.

``both``
    Both of the above.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

from c2cwsgiutils import config
from c2cwsgiutils import context as c2c_context

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

__all__ = [
    "MAX_APPLICATION_NAME",
    "TaggingSettings",
    "add_comment",
    "application_name",
    "includeme",
    "instrument",
    "parse_application_name",
    "parse_comment",
    "settings",
    "sql_comment",
]

LOG = logging.getLogger(__name__)

SQL_REQUEST_ID = config.declare(
    "C2C_SQL_REQUEST_ID",
    "c2c.sql_request_id",
    False,
    config.as_bool,
    "Tag every SQL statement with the current request ID (see C2C_SQL_REQUEST_ID_MODE).",
    feature="sql",
)
SQL_REQUEST_ID_MODE = config.declare(
    "C2C_SQL_REQUEST_ID_MODE",
    "c2c.sql_request_id_mode",
    "application_name",
    config.choice("application_name", "comment", "both"),
    "How statements are tagged: the connection's PostgreSQL application_name (set only when it "
    "changes), a sqlcommenter comment in each statement, or both.",
    feature="sql",
)
SQL_COMMENT_POSITION = config.declare(
    "C2C_SQL_COMMENT_POSITION",
    "c2c.sql_comment_position",
    "start",
    config.choice("start", "end"),
    "Where the sqlcommenter comment goes: at the start (survives the truncation of "
    "pg_stat_activity.query) or at the end (the sqlcommenter convention).",
    feature="sql",
)

MAX_APPLICATION_NAME = 63  # PostgreSQL's NAMEDATALEN - 1

# Keys kept on the DBAPI connection's ``info`` (it lives as long as the DBAPI connection).
_NAME = "c2cwsgiutils.application_name"  # the value the server has now, as far as we know
_COMMITTED = "c2cwsgiutils.application_name_committed"  # the value a ROLLBACK would go back to
_CTX = "c2cwsgiutils.application_name_context"  # the context that value was computed for


@dataclass(frozen=True)
class TaggingSettings:
    """The parsed tagging settings."""

    enabled: bool = False
    mode: str = "application_name"
    position: str = "start"

    @property
    def application_name(self) -> bool:
        """Whether the application_name carrier is on."""
        return self.enabled and self.mode in ("application_name", "both")

    @property
    def comment(self) -> bool:
        """Whether the comment carrier is on."""
        return self.enabled and self.mode in ("comment", "both")

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> TaggingSettings:
        """Read the settings (environment variable > ini key > default)."""
        return cls(
            enabled=SQL_REQUEST_ID.get(settings),
            mode=SQL_REQUEST_ID_MODE.get(settings),
            position=SQL_COMMENT_POSITION.get(settings),
        )


def settings(registry: Any) -> TaggingSettings:
    """The :class:`TaggingSettings` of a Pyramid registry (parsed once)."""
    return config.cached(registry, TaggingSettings.from_settings)


# ---- application_name ------------------------------------------------------------------------

_UNSAFE = re.compile(r"[^\x21-\x7e]|[,=]")
_PID = str(os.getpid())


def _after_fork() -> None:
    global _PID
    _PID = str(os.getpid())


os.register_at_fork(after_in_child=_after_fork)


def application_name(ctx: c2c_context.Context, pid: str | None = None) -> str:
    """The ``application_name`` for ``ctx``: ``rid=..,kind=..,pid=..,task=..`` within 63 bytes.

    Characters outside printable ASCII, commas and equal signs are replaced by ``_``. When
    everything does not fit, the request ID is kept (cut if it alone is too long) and the other
    fields are dropped from the end.
    """
    parts = []
    if ctx.request_id:
        parts.append("rid=" + _UNSAFE.sub("_", ctx.request_id))
    if ctx.kind:
        parts.append("kind=" + _UNSAFE.sub("_", ctx.kind))
    parts.append("pid=" + (pid or _PID))
    if ctx.task_id:
        parts.append("task=" + _UNSAFE.sub("_", ctx.task_id))
    name = parts[0][:MAX_APPLICATION_NAME]
    for part in parts[1:]:
        if len(name) + 1 + len(part) <= MAX_APPLICATION_NAME:
            name += "," + part
    return name


_APP_KEYS = {"rid": "request_id", "kind": "kind", "pid": "pid", "task": "task_id"}


def parse_application_name(name: str | None) -> dict[str, str]:
    """The fields of an ``application_name`` made by :func:`application_name` ({} for any other)."""
    if not name:
        return {}
    result: dict[str, str] = {}
    for part in name.split(","):
        key, sep, value = part.partition("=")
        field = _APP_KEYS.get(key)
        if not sep or field is None:
            return {}
        result[field] = value
    return result


def _set_application_name(pooled: Any, info: dict[str, Any], name: str) -> None:
    # A new DBAPI cursor: the statement's own cursor may be a server-side (named) one.
    # set_config() rather than SET: psycopg 3 binds parameters server-side, which SET refuses.
    cursor = pooled.dbapi_connection.cursor()
    try:
        cursor.execute("SELECT set_config('application_name', %s, false)", (name,))
    finally:
        cursor.close()
    info[_NAME] = name


def _before_execute_application_name(  # noqa: PLR0917 - SQLAlchemy's signature
    conn: Any, cursor: Any, statement: Any, parameters: Any, context: Any, executemany: bool
) -> None:
    ctx = c2c_context.current()
    try:
        # The execution context's pooled connection: ``conn.info`` costs about 1 µs more.
        pooled = getattr(context, "_dbapi_connection", None) or conn.connection
        info = pooled.info
        if info.get(_CTX) is ctx:
            return
        name = application_name(ctx)
        if info.get(_NAME) != name:
            _set_application_name(pooled, info, name)
        info[_CTX] = ctx
    except Exception:  # tagging must never fail the application's statement by itself
        LOG.warning("Could not set the PostgreSQL application_name", exc_info=True)


def _on_commit(conn: Any, *args: Any) -> None:
    # A SET done in a committed transaction survives: remember it as the value to go back to.
    with contextlib.suppress(Exception):  # a closed or invalidated connection
        info = conn.info
        info[_COMMITTED] = info.get(_NAME)


def _revert(info: dict[str, Any]) -> None:
    committed = info.get(_COMMITTED)
    if info.get(_NAME) != committed:
        info[_NAME] = committed
        info.pop(_CTX, None)


def _on_rollback(conn: Any, *args: Any) -> None:
    # PostgreSQL undoes a SET done in a transaction that is rolled back.
    with contextlib.suppress(Exception):  # a closed or invalidated connection
        _revert(conn.info)


def _on_pool_reset(dbapi_connection: Any, connection_record: Any, reset_state: Any) -> None:
    # The pool rolls back what a returned connection left open, without a Connection event.
    _revert(connection_record.info)


def _on_rollback_savepoint(conn: Any, *args: Any) -> None:
    # Whether the SET happened inside the savepoint is unknown: force a new one next time.
    with contextlib.suppress(Exception):  # a closed or invalidated connection
        info = conn.info
        info[_NAME] = None
        info.pop(_CTX, None)


# ---- comments --------------------------------------------------------------------------------


def _quote(value: str) -> str:
    # URL-encode, then meta-escape single quotes (quote() already encodes them), then quote.
    return "'" + quote(value, safe="").replace("'", "\\'") + "'"


def sql_comment(ctx: c2c_context.Context) -> str:
    """The sqlcommenter comment for ``ctx`` ("" when the context carries nothing)."""
    fields = {
        "kind": ctx.kind,
        "request_id": ctx.request_id,
        "route": ctx.route,
        "task_id": ctx.task_id,
        "traceparent": ctx.traceparent,
    }
    if not (ctx.request_id or ctx.trace_id or ctx.task_id):
        return ""
    body = ",".join(
        f"{quote(key, safe='')}={_quote(value)}" for key, value in sorted(fields.items()) if value
    )
    # URL-encoding turns "*" and "/" into %2A and %2F: no value can close the comment early.
    return f"/*{body}*/"


_BLANK = " \t\r\n;"
_BLANK_START = frozenset(_BLANK)


def add_comment(statement: str, comment: str, position: str = "start") -> str:
    """``statement`` with ``comment`` added, unless it is empty or already holds a comment."""
    if not comment or not statement or "/*" in statement or "--" in statement:
        return statement
    if statement[0] in _BLANK_START and not statement.strip(_BLANK):
        return statement
    if position == "start":
        return comment + " " + statement
    stripped = statement.rstrip()
    if stripped.endswith(";"):
        return stripped[:-1] + " " + comment + ";"
    return statement + " " + comment


_COMMENT_RE = re.compile(r"/\*(.*?)\*/", re.S)
_PAIR_RE = re.compile(r"([^=,\s]+)='((?:[^'\\]|\\.)*)'")


def parse_comment(query: str | None) -> dict[str, str]:
    """The key/values of the first sqlcommenter comment in ``query`` ({} when there is none)."""
    if not query:
        return {}
    for match in _COMMENT_RE.finditer(query):
        pairs = _PAIR_RE.findall(match.group(1))
        if pairs:
            return {unquote(key): unquote(value.replace("\\'", "'")) for key, value in pairs}
    return {}


_comment_cache: tuple[c2c_context.Context, str] = (c2c_context.EMPTY, "")


def _comment_for(ctx: c2c_context.Context) -> str:
    global _comment_cache
    cached = _comment_cache
    if cached[0] is ctx:
        return cached[1]
    comment = sql_comment(ctx)
    _comment_cache = (ctx, comment)
    return comment


def _as_string(statement: Any, cursor: Any) -> str | None:
    # psycopg2 / psycopg 3 ``sql.Composable`` objects render themselves against a cursor.
    as_string = getattr(statement, "as_string", None)
    if as_string is None:
        return None
    try:
        return str(as_string(cursor))
    except Exception:
        LOG.debug("Could not render a composed statement to add the SQL comment", exc_info=True)
        return None


def _driver_formats(conn: Any, parameters: Any, context: Any) -> bool:
    # psycopg2 and psycopg 3 apply %-formatting to the statement whenever parameters are passed,
    # even empty ones; SQLAlchemy passes none only with the ``no_parameters`` execution option.
    return (
        parameters is not None
        and not getattr(context, "no_parameters", False)
        and conn.dialect.paramstyle in ("format", "pyformat")
    )


def _make_comment_hook(position: str) -> Any:
    def before_execute_comment(  # noqa: PLR0917 - SQLAlchemy's signature
        conn: Any, cursor: Any, statement: Any, parameters: Any, context: Any, executemany: bool
    ) -> tuple[Any, Any]:
        comment = _comment_for(c2c_context.current())
        if not comment:
            return statement, parameters
        if type(statement) is not str:
            rendered = _as_string(statement, cursor)
            if rendered is None:
                return statement, parameters
            statement = rendered
        if "%" in comment and _driver_formats(conn, parameters, context):
            comment = comment.replace("%", "%%")  # URL-encoded values must survive %-formatting
        return add_comment(statement, comment, position), parameters

    return before_execute_comment


# ---- wiring ----------------------------------------------------------------------------------

_INSTRUMENTED: weakref.WeakSet[Any] = weakref.WeakSet()


def instrument(engine: Engine, tagging: TaggingSettings | None = None) -> bool:
    """Attach the tagging hooks to ``engine`` when tagging is enabled; returns whether it did.

    ``tagging`` defaults to the settings read from the environment alone. Attaching twice to the
    same engine does nothing the second time.
    """
    from sqlalchemy import event

    tagging = tagging if tagging is not None else TaggingSettings.from_settings({})
    if not tagging.enabled or engine in _INSTRUMENTED:
        return False
    _INSTRUMENTED.add(engine)
    if tagging.application_name:
        event.listen(engine, "before_cursor_execute", _before_execute_application_name)
        event.listen(engine, "commit", _on_commit)
        event.listen(engine, "commit_twophase", _on_commit)
        event.listen(engine, "rollback", _on_rollback)
        event.listen(engine, "rollback_twophase", _on_rollback)
        event.listen(engine, "rollback_savepoint", _on_rollback_savepoint)
        event.listen(engine.pool, "reset", _on_pool_reset)
    if tagging.comment:
        event.listen(engine, "before_cursor_execute", _make_comment_hook(tagging.position), retval=True)
    LOG.debug("SQL statement tagging (%s) attached to %s", tagging.mode, engine.url)
    return True


def includeme(config_: Any) -> None:
    """Pyramid include: parse the tagging settings; when on, tag every engine of the process.

    Engines are tagged by :func:`c2cwsgiutils.sql.instrument` (``setup_session`` calls it), and,
    while tagging is on, on their first connection (:func:`c2cwsgiutils.sql.instrument_new_engines`).
    """
    if settings(config_.registry).enabled:
        from c2cwsgiutils import sql

        sql.instrument_new_engines(config_.registry)
