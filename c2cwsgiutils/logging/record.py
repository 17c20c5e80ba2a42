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
| any other key | an ``extra=`` field, as given |
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


def _timestamp(created: float) -> str:
    seconds = int(created)
    micros = int((created - seconds) * 1_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{micros:06d}Z"


def record_to_dict(
    record: logging.LogRecord, service: str = "", formatter: logging.Formatter | None = None
) -> dict[str, Any]:
    """The JSON-ready dict of ``record`` (values may still need ``default=repr`` when encoding)."""
    attributes = record.__dict__
    try:
        message = record.getMessage()
    except Exception as exc:  # a broken %-format must not lose the record
        message = f"{record.msg!r} % {record.args!r} ({type(exc).__name__})"
    result: dict[str, Any] = {
        "timestamp": _timestamp(record.created),
        "created": record.created,
        "level": syslog_level(record.levelno),
        "level_name": record.levelname,
        "levelno": record.levelno,
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
    if "request_id" in attributes:
        for name in CONTEXT_FIELDS:
            result[name] = attributes.get(name, "")
    else:
        ctx = context.current()
        result["request_id"] = ctx.request_id
        result["trace_id"] = ctx.trace_id
        result["span_id"] = ctx.span_id
        result["parent_span_id"] = ctx.parent_span_id
        result["kind"] = ctx.kind
        result["task_id"] = ctx.task_id
    for key, value in attributes.items():
        if key not in RESERVED_ATTRIBUTES and key[0] != "_":
            result[key] = value
    if record.exc_info:
        fmt = formatter or _FORMATTER
        if not record.exc_text:
            record.exc_text = fmt.formatException(record.exc_info)
        result["exception"] = record.exc_text
    elif record.exc_text:
        result["exception"] = record.exc_text
    if record.stack_info:
        result["stack"] = record.stack_info
    return result


_FORMATTER = logging.Formatter()
