"""The context filter: every record gets the correlation fields, so any handler and format can use them.

Attach it to handlers (a filter on a logger does not see the records its children propagate)::

    handler.addFilter(ContextFilter())          # or "filters" in dictConfig
    logging.Formatter("%(request_id)s %(message)s")

Outside a request the fields exist and are empty strings, so ``%(request_id)s`` never raises.
A record that has some of them but no ``request_id`` (``extra={"kind": ...}``) keeps those values
as the caller's data: they move to ``record._c2c_extra``, which the JSON schema writes under
``c2c_extra`` (see :mod:`c2cwsgiutils.logging.record`).
:func:`install` adds the filter to every handler already configured (what the Pyramid include
does); :class:`ContextFormatter` is the way for ``fileConfig`` ini files, which cannot attach filters.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from c2cwsgiutils import context
from c2cwsgiutils.logging.record import CONTEXT_FIELDS

__all__ = ["FIELDS", "ContextFilter", "ContextFormatter", "add_context", "install"]

FIELDS = CONTEXT_FIELDS
"""The fields the filter sets (``request_id``, ``trace_id``, ``span_id``, ``parent_span_id``, ``kind``,
``task_id``)."""

_get_context = context.current
_OTHER_FIELDS = frozenset(FIELDS[1:])


def _keep_callers_fields(attributes: dict[str, Any]) -> None:
    """Move the correlation-named extras of a record without ``request_id`` to ``_c2c_extra``."""
    saved = attributes.get("_c2c_extra")
    if not isinstance(saved, dict):
        saved = attributes["_c2c_extra"] = {}
    for name in FIELDS[1:]:
        if name in attributes:
            saved[name] = attributes[name]


def add_context(record: logging.LogRecord) -> None:
    """Set the correlation fields on ``record`` from the current context (keeps fields already set).

    The one place that stamps them onto a record; the JSON writers read them back (or, for a
    record without them, the context) with :func:`c2cwsgiutils.logging.record.correlation_of`.
    """
    attributes = record.__dict__
    if "request_id" in attributes:
        return
    if not _OTHER_FIELDS.isdisjoint(attributes):
        _keep_callers_fields(attributes)
    ctx = _get_context()
    attributes["request_id"] = ctx.request_id
    attributes["trace_id"] = ctx.trace_id
    attributes["span_id"] = ctx.span_id
    attributes["parent_span_id"] = ctx.parent_span_id
    attributes["kind"] = ctx.kind
    attributes["task_id"] = ctx.task_id


class ContextFilter(logging.Filter):
    """A filter that lets every record through with ``request_id``, ``trace_id``, ``span_id``,
    ``parent_span_id``, ``kind`` and ``task_id`` set (empty strings outside a request or task).

    A record that already has them (set where it was created, possibly in another thread) keeps them.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        add_context(record)
        return True


class ContextFormatter(logging.Formatter):
    """A text formatter whose format may use the correlation fields without the filter attached.

    For ini files: ``[formatter_generic]`` / ``class = c2cwsgiutils.logging.ContextFormatter`` /
    ``format = %(asctime)s %(levelname)s [%(request_id)s] %(message)s``.
    """

    def format(self, record: logging.LogRecord) -> str:
        add_context(record)
        return super().format(record)


def _all_handlers() -> Iterable[logging.Handler]:
    yield from logging.getLogger().handlers
    for logger in list(logging.Logger.manager.loggerDict.values()):
        if isinstance(logger, logging.Logger):
            yield from logger.handlers


def _reads_context_itself(handler: logging.Handler) -> bool:
    from c2cwsgiutils.logging.json import JsonFormatter

    return isinstance(handler.formatter, (JsonFormatter, ContextFormatter))


def install(handlers: Iterable[logging.Handler] | None = None) -> int:
    """Add a :class:`ContextFilter` to ``handlers`` (default: every configured handler) lacking one.

    Handlers whose formatter reads the context itself (JSON, CEE, :class:`ContextFormatter`) are
    left alone: the filter would only cost time. Returns how many handlers got it. Idempotent.
    """
    count = 0
    seen: set[int] = set()
    for handler in _all_handlers() if handlers is None else handlers:
        if id(handler) in seen or _reads_context_itself(handler):
            continue
        seen.add(id(handler))
        if not any(isinstance(existing, ContextFilter) for existing in handler.filters):
            handler.addFilter(ContextFilter())
            count += 1
    return count


def includeme(config: Any) -> None:
    """Pyramid include: the context filter on every handler the logging configuration created."""
    del config
    install()
