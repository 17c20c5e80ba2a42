"""Statement tagging: every SQL statement carries the ID of the request or task that sent it.

Two carriers, chosen by ``C2C_SQL_REQUEST_ID_MODE`` (enabled by ``C2C_SQL_REQUEST_ID``):

``application_name``
    The PostgreSQL ``application_name`` of the connection, e.g.
    ``rid=3f2a...,kind=web,pid=4242`` (63 bytes max, printable ASCII; fields that do not fit are
    dropped, ``task=`` first). It is changed with ``set_config()`` only when the connection's
    current value differs, so a pooled connection reused by the same request costs no extra round
    trip; at the start of a transaction it is set in autocommit mode so that no ROLLBACK undoes it.
    Shown by ``%a`` in ``log_line_prefix`` and in ``pg_stat_activity``.

``comment``
    A `sqlcommenter <https://google.github.io/sqlcommenter/spec/>`_ comment such as
    ``/*kind='web',request_id='3f2a...',route='hello',traceparent='00-...'*/`` (and ``task_id``,
    ``tracestate`` when there are some): see :mod:`c2cwsgiutils.sql.sqlcommenter`. Placed at the
    start of the statement by default (``C2C_SQL_COMMENT_POSITION``) so that PostgreSQL's
    truncation of ``pg_stat_activity.query`` cannot cut it off. A statement that already holds a
    comment (outside its literals) is left alone.

``both``
    Both of the above.

The hooks run from :mod:`c2cwsgiutils.sql.hooks` (a dialect-level ``do_execute`` event).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from c2cwsgiutils import config
from c2cwsgiutils import context as c2c_context
from c2cwsgiutils._guard import internal_error
from c2cwsgiutils.sql.sqlcommenter import add_comment, parse_comment, serialize

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

__all__ = [
    "MAX_APPLICATION_NAME",
    "TaggingSettings",
    "add_comment",
    "application_name",
    "comment_statement",
    "commented",
    "ensure_application_name",
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
_NAME = "c2cwsgiutils.application_name"  # the value the server has now, None when unknown
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


def _set_application_name(dbapi_connection: Any, info: dict[str, Any], name: str) -> None:
    # set_config() rather than SET: psycopg 3 binds parameters server-side, which SET refuses.
    # Outside a transaction (the first statement of each one), it runs in autocommit mode: one
    # round trip, and no ROLLBACK can undo it. Inside one, it joins that transaction and might be
    # undone, so the value is marked unknown for the next context.
    idle = dbapi_connection.info.transaction_status == 0  # IDLE in psycopg2 and psycopg 3
    autocommit = dbapi_connection.autocommit
    if idle and not autocommit:
        dbapi_connection.autocommit = True
    try:
        cursor = dbapi_connection.cursor()  # the statement's own cursor may be a named one
        try:
            cursor.execute("SELECT set_config('application_name', %s, false)", (name,))
        finally:
            cursor.close()
    finally:
        if idle and not autocommit:
            dbapi_connection.autocommit = False
    info[_NAME] = name if idle or autocommit else None


def ensure_application_name(context: Any) -> None:
    """Give the statement's connection the current context's ``application_name`` (if it has not)."""
    try:
        ctx = c2c_context.current()
        pooled = context._dbapi_connection  # the execution context's pooled connection
        info = pooled.info
        if info.get(_CTX) is ctx:
            return
        name = application_name(ctx)
        if info.get(_NAME) != name:
            _set_application_name(pooled.dbapi_connection, info, name)
        info[_CTX] = ctx
    except NotImplementedError:  # the ad hoc connection of SQLAlchemy's dialect initialization
        pass
    except Exception:  # tagging must never fail the application's statement by itself
        internal_error("setting the PostgreSQL application_name", LOG)


# ---- comments --------------------------------------------------------------------------------


def sql_comment(ctx: c2c_context.Context) -> str:
    """The sqlcommenter comment for ``ctx`` ("" when the context carries nothing)."""
    if not (ctx.request_id or ctx.trace_id or ctx.task_id):
        return ""
    return serialize(
        {
            "kind": ctx.kind,
            "request_id": ctx.request_id,
            "route": ctx.route,
            "task_id": ctx.task_id,
            "traceparent": ctx.traceparent,
            "tracestate": ctx.tracestate,
        }
    )


_BLANK_START = frozenset(" \t\r\n;")


# The comment of the last context seen, and the same with "%" doubled: (context, comment, escaped).
_comment_cache: tuple[c2c_context.Context, str, str] = (c2c_context.EMPTY, "", "")
_current = c2c_context.current


def _comments_for(ctx: c2c_context.Context) -> tuple[c2c_context.Context, str, str]:
    global _comment_cache
    comment = sql_comment(ctx)
    cached = _comment_cache = (ctx, comment, comment.replace("%", "%%"))
    return cached


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


def commented(statement: Any, cursor: Any, percent: bool, position: str) -> Any:
    """``statement`` with the current context's comment (unchanged when there is nothing to add).

    ``percent``: the driver will %-format the statement (psycopg with parameters), so the ``%`` of
    URL-encoded values are doubled. This runs for every statement: the comment is computed once
    per context.
    """
    ctx = _current()
    cached = _comment_cache
    if cached[0] is not ctx:
        cached = _comments_for(ctx)
    comment = cached[2] if percent else cached[1]
    if not comment:
        return statement
    if type(statement) is not str:
        rendered = _as_string(statement, cursor)
        if rendered is None:
            return statement
        statement = rendered
    elif (
        position == "start"
        and statement
        and statement[0] not in _BLANK_START
        and "/*" not in statement
        and "--" not in statement
    ):
        return comment + " " + statement  # add_comment()'s most common case, without its call
    return add_comment(statement, comment, position)


def comment_statement(statement: Any, cursor: Any, has_params: bool, context: Any, position: str) -> Any:
    """``statement`` with the current context's comment, for a statement of ``context``'s dialect."""
    percent = has_params and context.dialect.paramstyle in ("format", "pyformat")
    return commented(statement, cursor, percent, position)


# ---- wiring ----------------------------------------------------------------------------------


def instrument(engine: Engine, tagging: TaggingSettings | None = None) -> bool:
    """Tag the statements of ``engine`` when tagging is enabled; returns whether it is on.

    ``tagging`` defaults to the settings read from the environment alone. Calling it again adds
    the carriers of the new settings; it never removes one.
    """
    from c2cwsgiutils.sql import hooks

    tagging = tagging if tagging is not None else TaggingSettings.from_settings({})
    if not tagging.enabled:
        return False
    apply(hooks.hooks_for(engine.dialect), tagging)
    LOG.debug("SQL statement tagging (%s) attached to %s", tagging.mode, engine.url)
    return True


def apply(dialect_hooks: Any, tagging: TaggingSettings) -> None:
    """Turn on the carriers of ``tagging`` in a :class:`c2cwsgiutils.sql.hooks.DialectHooks`."""
    if not tagging.enabled:
        return
    # application_name is PostgreSQL's; a comment is understood by every SQL database.
    if dialect_hooks.dialect_name == "postgresql":
        dialect_hooks.application_name |= tagging.application_name
    if tagging.comment:
        dialect_hooks.comment = True
        dialect_hooks.position = tagging.position


def includeme(config_: Any) -> None:
    """Pyramid include: parse the tagging settings; when on, tag every engine of the process.

    Engines are tagged by :func:`c2cwsgiutils.sql.instrument` (``setup_session`` calls it), and,
    while tagging is on, on their first connection (:func:`c2cwsgiutils.sql.instrument_new_engines`).
    """
    if settings(config_.registry).enabled:
        from c2cwsgiutils import sql

        sql.instrument_new_engines(config_.registry)
