"""SQL statement timers: ``sql.{normalized statement}`` for every statement an engine runs.

Enable for every SQLAlchemy engine of the process with ``C2C_SQL_STATS=true`` (the Pyramid include
calls :func:`instrument`), or for one engine::

    from c2cwsgiutils.stats import sql
    sql.instrument(engine)

The time is measured in wall-clock time around the DB-API ``execute`` (SQLAlchemy's
``before_cursor_execute`` / ``after_cursor_execute`` events; the start is kept on the execution
context, so concurrent statements on other connections or threads do not mix). The statement is
normalised by :func:`c2cwsgiutils.sql.normalise.normalise` (the profiler's and the SQL spans' too)
so that the number of distinct metrics stays bounded: comments (the request-ID comments included)
are removed, string and number literals and bind parameters become ``?``, lists such as
``IN (1, 2, 3)`` or multi-row ``VALUES`` collapse to one ``(?)``, whitespace is collapsed, and long
statements are truncated (with a short hash to keep different ones apart). Past
:data:`MAX_STATEMENTS` distinct statements, new ones are counted as ``sql.other``.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

from c2cwsgiutils import stats
from c2cwsgiutils.sql import normalise

__all__ = ["MAX_LENGTH", "MAX_STATEMENTS", "instrument", "normalize", "uninstrument"]

MAX_LENGTH = 160
"""Normalized statements longer than this are truncated (plus a hash of the whole)."""
MAX_STATEMENTS = 1000
"""Distinct statement names per process; the ones past it are recorded as ``other``."""

_START = "_c2c_stats_start"
_KEY = ("sql",)


def normalize(statement: str) -> str:
    """The metric name of a statement: :func:`c2cwsgiutils.sql.normalise.normalise`, bounded in length."""
    return normalise.shortened(normalise.normalise(statement), MAX_LENGTH)


_seen: set[str] = set()


def _name(statement: str) -> str:
    name = normalize(statement)
    if name in _seen:
        return name
    if len(_seen) >= MAX_STATEMENTS:
        return "other"
    _seen.add(name)
    return name


def _before_cursor_execute(  # noqa: PLR0917 - SQLAlchemy's event signature
    conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
) -> None:
    if context is not None:
        setattr(context, _START, time.perf_counter())


def _after_cursor_execute(  # noqa: PLR0917 - SQLAlchemy's event signature
    conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
) -> None:
    start = getattr(context, _START, None)
    if start is None:
        return
    # Cleared so that an engine instrumented twice (all engines, and this one) records it once.
    setattr(context, _START, None)
    elapsed = time.perf_counter() - start
    try:
        name = _name(statement)
    except Exception:  # never let a metric break a query
        name = "other"
    stats.add_timing(_KEY, elapsed, {"query": name})


def instrument(target: Engine | type[Engine] | None = None) -> None:
    """Time the statements of ``target`` (an engine; ``None``: every engine). Idempotent.

    Statements that fail are not recorded (``after_cursor_execute`` is not called for them).
    """
    where: Any = Engine if target is None else target
    if not event.contains(where, "before_cursor_execute", _before_cursor_execute):
        event.listen(where, "before_cursor_execute", _before_cursor_execute)
        event.listen(where, "after_cursor_execute", _after_cursor_execute)


def uninstrument(target: Engine | type[Engine] | None = None) -> None:
    """Undo :func:`instrument` for ``target``."""
    where: Any = Engine if target is None else target
    if event.contains(where, "before_cursor_execute", _before_cursor_execute):
        event.remove(where, "before_cursor_execute", _before_cursor_execute)
        event.remove(where, "after_cursor_execute", _after_cursor_execute)
