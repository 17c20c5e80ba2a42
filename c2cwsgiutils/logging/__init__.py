"""Logging: the context filter, JSON and CEE syslog formatters and handlers, the log-level view.

Public classes, usable by dotted name in ``dictConfig`` and ini (``fileConfig``) files:

- :class:`ContextFilter` - adds ``request_id``, ``trace_id``, ``span_id``, ``parent_span_id``,
  ``kind`` and ``task_id`` to every record;
- :class:`ContextFormatter` - a text formatter that can use those fields without the filter;
- :class:`JsonFormatter`, :class:`JsonLogHandler` - one JSON object per line;
- :class:`CeeFormatter`, :class:`CeeSysLogHandler` - ``@cee:`` JSON to a syslog server.

``config.include("c2cwsgiutils.logging")`` adds the filter to every configured handler.
"""

from __future__ import annotations

from typing import Any

from c2cwsgiutils.logging.cee import CeeFormatter, CeeSysLogHandler
from c2cwsgiutils.logging.filter import ContextFilter, ContextFormatter
from c2cwsgiutils.logging.json import JsonFormatter, JsonLogHandler

__all__ = [
    "CeeFormatter",
    "CeeSysLogHandler",
    "ContextFilter",
    "ContextFormatter",
    "JsonFormatter",
    "JsonLogHandler",
    "includeme",
]


def includeme(config: Any) -> None:
    """Pyramid include: the context filter on every configured handler."""
    from c2cwsgiutils.logging import filter as context_filter

    del config
    context_filter.install()
