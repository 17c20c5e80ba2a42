"""Private fast paths of :mod:`c2cwsgiutils.spans` (each one measured by bench/bench_spans.py)."""

from __future__ import annotations

import logging
import math
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from c2cwsgiutils import context

_new_object = object.__new__
_START_TIME = getattr(logging, "_startTime", time.time())
# os.getpid() is a system call per record; the pid only changes in a forked child.
_PID = [os.getpid()]


def _new_pid() -> None:
    _PID[0] = os.getpid()


os.register_at_fork(after_in_child=_new_pid)


_LEADING_FIELDS = (
    "request_id",
    "trace_id",
    "span_id",
    "parent_span_id",
    "sampled",
    "kind",
    "task_id",
    "span_path",
)


def check_context_layout() -> None:
    """Make sure :class:`context.Context` starts with the fields spans build by position.

    A span's context is the current one with its ids and name replaced: built as a tuple by
    position (``tuple.__new__(Context, (ctx[0], trace_id, ...,  *ctx[8:]))``), about twice as fast as
    ``_replace``. Fields added after ``span_path`` are copied as they are; a change of the leading
    fields' order is caught here, at import time.
    """
    fields = context.Context._fields
    if fields[: len(_LEADING_FIELDS)] != _LEADING_FIELDS:
        raise RuntimeError(f"context.Context fields changed: {fields}; update c2cwsgiutils.spans")


def make_emitter(  # noqa: PLR0917 - all six describe the one event
    logger: logging.Logger, level: int, message: str, pathname: str, func: str, taken: frozenset[str]
) -> Callable[[str, float, float, str, str, dict[str, Any], float, float], None]:
    """A function emitting a span's event as ``logger.log(level, message, name, status, duration,
    extra={...})`` would, in less time.

    It takes ``(name, start, duration_ms, status, error_type, fields, created, rounded)``: the
    extras are ``span_name``, ``start``, ``duration_ms`` (``rounded``), ``status``,
    ``error_type`` and ``fields`` (a key in ``taken`` gets a trailing underscore); ``created`` is
    the record's time.

    The record is a copy of a template made once (``LogRecord.__init__`` recomputes the file name,
    module and level name of every record): only the time, thread, process and extras are filled
    in, the way the standard library does. It is dispatched like ``Logger.handle`` and
    ``Logger.callHandlers`` do (up the hierarchy, every handler whose level lets it through gets
    ``handler.handle(record)``), without their three Python calls. Anything unusual takes the
    standard path: a custom record factory, a logger class overriding ``handle``/``callHandlers``,
    filters on the logger, no handler at all.
    """
    record_class = logging.LogRecord
    template = vars(record_class(logger.name, level, pathname, 0, message, (), None, func))
    # Every key of the record is in the template, in the order makeRecord + extra= give, so that
    # its copy (which keeps the room a dict built key by key has) grows only for the user fields.
    template.update(dict.fromkeys(("span_name", "start", "duration_ms", "status", "error_type")))
    has_task_name = "taskName" in template
    set_attribute = object.__setattr__
    new_object = object.__new__
    standard_handle = logging.Logger.handle
    standard_call_handlers = logging.Logger.callHandlers
    logger_class = type(logger)
    current_thread = threading.current_thread
    get_ident = threading.get_ident
    modules = sys.modules
    floor = math.floor

    def emit(  # noqa: PLR0917 - positional: a hot path
        name: str,
        start: float,
        duration_ms: float,
        status: str,
        error_type: str,
        fields: dict[str, Any],
        created: float,
        rounded: float,
    ) -> None:
        args = (name, status, duration_ms)
        if getattr(logging, "_logRecordFactory", None) is not record_class:  # a custom factory
            extra = {
                "span_name": name,
                "start": start,
                "duration_ms": rounded,
                "status": status,
                "error_type": error_type,
            }
            for key, value in fields.items():
                extra[f"{key}_" if key in taken else key] = value
            logger.handle(
                logger.makeRecord(logger.name, level, pathname, 0, message, args, None, func, extra)
            )
            return
        attributes = template.copy()
        attributes["args"] = args
        attributes["created"] = created
        attributes["msecs"] = floor((created % 1.0) * 1000) + 0.0  # int(...) of logging, without 2 type calls
        attributes["relativeCreated"] = (created - _START_TIME) * 1000
        if logging.logThreads:
            attributes["thread"] = get_ident()
            attributes["threadName"] = current_thread().name
        else:
            attributes["thread"] = attributes["threadName"] = None
        if logging.logMultiprocessing:
            attributes["processName"] = "MainProcess"
            multiprocessing = modules.get("multiprocessing")
            if multiprocessing is not None:
                try:  # noqa: SIM105 - contextlib.suppress costs more than the rest of this block
                    attributes["processName"] = multiprocessing.current_process().name
                except Exception:  # noqa: S110 - same guard as the standard library
                    pass
        else:
            attributes["processName"] = None
        attributes["process"] = _PID[0] if logging.logProcesses else None
        if has_task_name:  # Python 3.12+
            attributes["taskName"] = None
            asyncio = modules.get("asyncio")
            if asyncio is not None and getattr(logging, "logAsyncioTasks", True):
                try:  # noqa: SIM105 - as above
                    attributes["taskName"] = asyncio.current_task().get_name()
                except Exception:  # noqa: S110 - no running loop or task
                    pass
        attributes["span_name"] = name
        attributes["start"] = start
        attributes["duration_ms"] = rounded
        attributes["status"] = status
        attributes["error_type"] = error_type
        for key, value in fields.items():
            attributes[f"{key}_" if key in taken else key] = value
        record: logging.LogRecord = new_object(record_class)
        set_attribute(record, "__dict__", attributes)
        if (
            logger.filters
            or logger_class.handle is not standard_handle
            or logger_class.callHandlers is not standard_call_handlers
        ):
            logger.handle(record)
            return
        if logger.disabled:
            return
        found = False
        current: logging.Logger | None = logger
        while current is not None:
            for handler in current.handlers:
                found = True
                if level >= handler.level:
                    handler.handle(record)
            current = current.parent if current.propagate else None
        if not found:
            logger.callHandlers(record)  # the standard library's "last resort" behaviour

    return emit
