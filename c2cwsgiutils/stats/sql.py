"""SQL statement timers: ``sql.{normalized statement}`` for every statement an engine runs.

Enable for every SQLAlchemy engine of the process with ``C2C_SQL_STATS=true`` (the Pyramid include
calls :func:`instrument`), or for one engine::

    from c2cwsgiutils.stats import sql
    sql.instrument(engine)

The time is measured in wall-clock time around the DB-API ``execute`` (SQLAlchemy's
``before_cursor_execute`` / ``after_cursor_execute`` events; the start is kept on the execution
context, so concurrent statements on other connections or threads do not mix). The statement is
normalized so that the number of distinct metrics stays bounded: comments (the request-ID
comments included) are removed, string and number literals and bind parameters become ``?``, lists
such as ``IN (1, 2, 3)`` or multi-row ``VALUES`` collapse to one ``(?)``, whitespace is collapsed,
and long statements are truncated (with a short hash to keep different ones apart). Past
:data:`MAX_STATEMENTS` distinct statements, new ones are counted as ``sql.other``.
"""

from __future__ import annotations

import functools
import hashlib
import re
import time
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

from c2cwsgiutils import stats

__all__ = ["MAX_LENGTH", "MAX_STATEMENTS", "instrument", "normalize", "uninstrument"]

MAX_LENGTH = 160
"""Normalized statements longer than this are truncated (plus a hash of the whole)."""
MAX_STATEMENTS = 1000
"""Distinct statement names per process; the ones past it are recorded as ``other``."""

_START = "_c2c_stats_start"
_KEY = ("sql",)

_COMMENTS = re.compile(r"/\*.*?\*/|--[^\n]*", re.S)
_STRINGS = re.compile(r"(?:\b[EeBbXxNnUu]&?)?'(?:[^']|'')*'|\$\$.*?\$\$", re.S)
_PARAMS = re.compile(r"%\(\w+\)s|%s|\$\d+|(?<![:\w]):\w+|\?")
_NUMBERS = re.compile(r"(?<![\w$.\"])[-+]?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?(?![\w\"])")
_SPACES = re.compile(r"\s+")
_LIST = re.compile(r"\(\s*\?(?:\s*,\s*\?)*\s*\)")
_ARRAY = re.compile(r"\[\s*\?(?:\s*,\s*\?)*\s*\]")
_ROWS = re.compile(r"\(\?\)(?:\s*,\s*\(\?\))+")


@functools.lru_cache(maxsize=2048)
def normalize(statement: str) -> str:
    """The metric name of a statement: literals and parameters as ``?``, lists collapsed, bounded length."""
    text = _COMMENTS.sub(" ", statement)
    text = _STRINGS.sub("?", text)
    text = _PARAMS.sub("?", text)
    text = _NUMBERS.sub("?", text)
    text = _SPACES.sub(" ", text).strip()
    text = _LIST.sub("(?)", text)
    text = _ARRAY.sub("[?]", text)
    text = _ROWS.sub("(?)", text)
    if len(text) > MAX_LENGTH:
        digest = hashlib.blake2s(text.encode("utf-8"), digest_size=3).hexdigest()
        text = f"{text[:MAX_LENGTH]}...{digest}"
    return text


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
