"""The one JSON schema of a log record, shared by the JSON formatter and the collector handler.

Field names follow the original c2cwsgiutils JSON handler where one exists; the correlation
fields come from the record (set by the context filter) or, failing that, from the current
context. Every ``extra=`` field is kept; values that JSON cannot encode become their ``repr``.

| field | meaning |
| --- | --- |
| ``timestamp`` | ISO 8601 UTC with microseconds, e.g. ``2026-11-22T11:14:10.478351Z`` |
| ``created`` | the same instant as a POSIX float (for machines) |
| ``level`` | syslog severity number (7 debug, 6 info, 4 warning, 3 error, 2 critical) |
| ``level_name`` | Python level name (``INFO`` ...) |
| ``levelno`` | Python level number |
| ``msg`` | the formatted message |
| ``logger_name`` | the logger's name |
| ``file``, ``line``, ``function`` | where the call was made |
| ``pid``, ``process_name``, ``thread_name`` | who made it |
| ``host``, ``service`` | machine host name and service name (``C2C_SERVICE_NAME``) |
| ``request_id``, ``trace_id``, ``span_id``, ``parent_span_id``, ``kind``, ``task_id`` | correlation |
| ``exception`` | the formatted traceback, when the record has one |
| ``stack`` | ``stack_info``, when asked for |
| any other key | an ``extra=`` field, as given (names starting with ``_`` are skipped) |
"""

from __future__ import annotations

import logging
import socket
import time
from typing import Any

from c2cwsgiutils import context

__all__ = ["CONTEXT_FIELDS", "RESERVED_ATTRIBUTES", "SYSLOG_LEVELS", "record_to_dict", "syslog_level"]

# Attributes every LogRecord has: they are not "extra" fields.
RESERVED_ATTRIBUTES = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", (), None)).keys()
    | {
        "message",
        "asctime",
        "taskName",
        "request_id",
        "trace_id",
        "span_id",
        "parent_span_id",
        "kind",
        "task_id",
    }
)

CONTEXT_FIELDS = ("request_id", "trace_id", "span_id", "parent_span_id", "kind", "task_id")

SYSLOG_LEVELS = {
    logging.CRITICAL: 2,
    logging.ERROR: 3,
    logging.WARNING: 4,
    logging.INFO: 6,
    logging.DEBUG: 7,
}

HOSTNAME = socket.gethostname()


def syslog_level(levelno: int) -> int:
    """The syslog severity of a Python level (custom levels map to the nearest lower standard one)."""
    level = SYSLOG_LEVELS.get(levelno)
    if level is not None:
        return level
    for python_level in (logging.CRITICAL, logging.ERROR, logging.WARNING, logging.INFO):
        if levelno >= python_level:
            return SYSLOG_LEVELS[python_level]
    return 7


_second = -1
_second_text = ""


def _timestamp(created: float) -> str:
    # strftime is the costliest part of a record: compute it once per second.
    global _second, _second_text
    seconds = int(created)
    if seconds != _second:
        _second_text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
        _second = seconds
    return f"{_second_text}.{int((created - seconds) * 1_000_000):06d}Z"


_get_context = context._CURRENT.get


def record_to_dict(
    record: logging.LogRecord, service: str = "", formatter: logging.Formatter | None = None
) -> dict[str, Any]:
    """The JSON-ready dict of ``record`` (values may still need ``default=repr`` when encoding).

    Never raises for a broken ``msg % args``: the message then shows both, and the error's type.
    """
    attributes = record.__dict__
    msg = record.msg
    args = record.args
    try:
        message = str(msg) if type(msg) is not str else msg
        if args:
            message = message % args
    except Exception as exc:  # a broken %-format must not lose the record
        message = f"{msg!r} % {args!r} ({type(exc).__name__})"
    created = record.created
    levelno = record.levelno
    level = SYSLOG_LEVELS.get(levelno)
    result: dict[str, Any] = {
        "timestamp": _timestamp(created),
        "created": created,
        "level": syslog_level(levelno) if level is None else level,
        "level_name": record.levelname,
        "levelno": levelno,
        "msg": message,
        "logger_name": record.name,
        "file": record.pathname,
        "line": record.lineno,
        "function": record.funcName,
        "pid": record.process,
        "process_name": record.processName,
        "thread_name": record.threadName,
        "host": HOSTNAME,
        "service": service,
    }
    request_id = attributes.get("request_id")
    if request_id is not None:
        result["request_id"] = request_id
        result["trace_id"] = attributes.get("trace_id", "")
        result["span_id"] = attributes.get("span_id", "")
        result["parent_span_id"] = attributes.get("parent_span_id", "")
        result["kind"] = attributes.get("kind", "")
        result["task_id"] = attributes.get("task_id", "")
    else:
        ctx = _get_context()
        result["request_id"] = ctx.request_id
        result["trace_id"] = ctx.trace_id
        result["span_id"] = ctx.span_id
        result["parent_span_id"] = ctx.parent_span_id
        result["kind"] = ctx.kind
        result["task_id"] = ctx.task_id
    extra = attributes.keys() - RESERVED_ATTRIBUTES
    if extra:
        for key in sorted(extra):
            if key[0] != "_":
                result[key] = attributes[key]
    if record.exc_info:
        if not record.exc_text:
            record.exc_text = (formatter or _FORMATTER).formatException(record.exc_info)
        result["exception"] = record.exc_text
    elif record.exc_text:
        result["exception"] = record.exc_text
    if record.stack_info:
        result["stack"] = record.stack_info
    return result


_FORMATTER = logging.Formatter()
