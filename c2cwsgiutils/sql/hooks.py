"""Internal. The one hook per dialect that runs tagging, the profiler and the SQL spans.

It replaces, on the dialect *instance* of an engine, the three methods SQLAlchemy calls to run a
statement (``do_execute``, ``do_execute_no_params``, ``do_executemany``: the documented points a
dialect overrides), and calls the original method afterwards. It is neither a ``Connection``
event such as ``before_cursor_execute`` (any ``Connection`` event listener switches SQLAlchemy onto
its slow statement path for the whole engine: about 20,000 more CPU instructions per statement)
nor a ``do_execute`` dialect event (SQLAlchemy's event dispatch around the listener costs more
than the tagging itself); ``bench/bench_sql.py`` counts the instructions of each.

Our part runs inside one guard (:mod:`c2cwsgiutils._guard`, ``try`` costs nothing while nothing
is raised): a bug of ours is logged (once per place and ten minutes) and the statement goes on,
untagged if the tagging failed; only the statement's own errors reach the application.

``executemany`` statements get the ``application_name`` and a span but no comment (psycopg2's
dialect runs them its own way). With SQL spans on (:mod:`c2cwsgiutils.sql.spans`) each statement
is timed here, two ``perf_counter()`` calls around the DB-API call, and reported afterwards.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from c2cwsgiutils._guard import internal_error
from c2cwsgiutils.sql import profiler, tagging

_perf_counter = time.perf_counter
LOG = logging.getLogger("c2cwsgiutils.sql")

__all__ = ["DialectHooks", "hooks_for"]


class DialectHooks:
    """What to do for the statements of one dialect (one engine); the flags may be turned on later."""

    __slots__ = (
        "_execute",
        "_execute_no_params",
        "_executemany",
        "application_name",
        "comment",
        "dialect_name",
        "percent",
        "position",
        "profile",
        "spans",
    )

    def __init__(self, dialect_name: str = "postgresql", paramstyle: str = "pyformat") -> None:
        self.dialect_name = dialect_name
        # psycopg2 and psycopg 3 %-format the statement whenever parameters are passed, even
        # empty ones: the URL-encoded comment must survive that.
        self.percent = paramstyle in ("format", "pyformat")
        self.application_name = False
        self.comment = False
        self.position = "start"
        self.profile = False
        self.spans: Any = None  # c2cwsgiutils.sql.spans.SqlSpans when SQL spans are on
        self._execute: Any = None
        self._execute_no_params: Any = None
        self._executemany: Any = None

    def attach(self, dialect: Any) -> None:
        """Put the hooks in front of the statement methods of ``dialect`` (an engine's ``.dialect``)."""
        self._execute = dialect.do_execute
        self._execute_no_params = dialect.do_execute_no_params
        self._executemany = dialect.do_executemany
        dialect.do_execute = self.do_execute
        dialect.do_execute_no_params = self.do_execute_no_params
        dialect.do_executemany = self.do_executemany

    def do_execute(self, cursor: Any, statement: Any, parameters: Any, context: Any = None) -> None:
        """The dialect's ``do_execute``, with the tagging, the profiler and the span."""
        try:
            if self.application_name:
                tagging.ensure_application_name(context)
            if self.comment:
                statement = tagging.commented(statement, cursor, self.percent, self.position)
        except Exception:
            internal_error("tagging a SQL statement", LOG)
        spans = self.spans
        if spans is None:
            if self.profile and profiler.is_enabled():
                profiler.execute_profiled(cursor, statement, parameters, True, context)
            else:
                self._execute(cursor, statement, parameters, context)
            return
        t0 = _perf_counter()
        try:
            if self.profile and profiler.is_enabled():
                profiler.execute_profiled(cursor, statement, parameters, True, context)
            else:
                self._execute(cursor, statement, parameters, context)
        except BaseException as error:
            spans.record(cursor, statement, context, t0, error)
            raise
        spans.record(cursor, statement, context, t0, None)

    def do_execute_no_params(self, cursor: Any, statement: Any, context: Any = None) -> None:
        """The dialect's ``do_execute_no_params``, with the tagging, the profiler and the span."""
        try:
            if self.application_name:
                tagging.ensure_application_name(context)
            if self.comment:
                statement = tagging.commented(statement, cursor, False, self.position)
        except Exception:
            internal_error("tagging a SQL statement", LOG)
        spans = self.spans
        if spans is None:
            if self.profile and profiler.is_enabled():
                profiler.execute_profiled(cursor, statement, None, False, context)
            else:
                self._execute_no_params(cursor, statement, context)
            return
        t0 = _perf_counter()
        try:
            if self.profile and profiler.is_enabled():
                profiler.execute_profiled(cursor, statement, None, False, context)
            else:
                self._execute_no_params(cursor, statement, context)
        except BaseException as error:
            spans.record(cursor, statement, context, t0, error)
            raise
        spans.record(cursor, statement, context, t0, None)

    def do_executemany(self, cursor: Any, statement: Any, parameters: Any, context: Any = None) -> None:
        """The dialect's ``do_executemany``, with the application_name and the span."""
        try:
            if self.application_name:
                tagging.ensure_application_name(context)
        except Exception:
            internal_error("tagging a SQL statement", LOG)
        spans = self.spans
        if spans is None:
            self._executemany(cursor, statement, parameters, context)
            return
        t0 = _perf_counter()
        try:
            self._executemany(cursor, statement, parameters, context)
        except BaseException as error:
            spans.record(cursor, statement, context, t0, error)
            raise
        spans.record(cursor, statement, context, t0, None)


_ATTRIBUTE = "_c2cwsgiutils_hooks"


def hooks_for(dialect: Any) -> DialectHooks:
    """The hooks of ``dialect`` (an engine's ``.dialect``), attached on first use.

    They live on the dialect itself, so they go away with the engine.
    """
    hooks: DialectHooks | None = getattr(dialect, _ATTRIBUTE, None)
    if hooks is None:
        hooks = DialectHooks(dialect.name, dialect.paramstyle)
        hooks.attach(dialect)
        setattr(dialect, _ATTRIBUTE, hooks)
    return hooks
