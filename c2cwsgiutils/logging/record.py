"""The one JSON schema of a log record, shared by the JSON formatter and the collector handler.

Field names follow the original c2cwsgiutils JSON handler where one exists; the correlation
fields come from the record (set by the context filter, or all six by the caller) or, failing
that, from the current context. Every ``extra=`` field is kept; values that JSON cannot encode
become their ``repr``. An ``extra=`` field named like a field of the schema below (``level``,
``host``, ``timestamp``, ``kind`` without ``request_id`` ...) never replaces the real value and is
never dropped: it goes, with its value, into the ``c2c_extra`` object.

| field | meaning |
| --- | --- |
| ``timestamp`` | ISO 8601 UTC with microseconds, e.g. ``2026-11-22T11:14:10.478351Z`` |
| ``created`` | the same instant as a POSIX float (for machines) |
| ``msg`` | the formatted message |
| ``level`` | syslog severity number (7 debug, 6 info, 4 warning, 3 error, 2 critical) |
| ``level_name`` | Python level name (``INFO`` ...) |
| ``levelno`` | Python level number |
| ``logger_name`` | the logger's name |
| ``file``, ``line``, ``function`` | where the call was made |
| ``pid``, ``process_name``, ``thread_name`` | who made it |
| ``host``, ``service`` | machine host name and service name (``C2C_SERVICE_NAME``) |
| ``request_id``, ``trace_id``, ``span_id``, ``parent_span_id``, ``kind``, ``task_id`` | correlation |
| ``exception`` | the formatted traceback, when the record has one |
| ``stack`` | ``stack_info``, when asked for |
| ``c2c_extra`` | the ``extra=`` fields named like a field of this table, ``{name: value}`` (if any) |
| ``c2c_uuid`` | set by the ``CollectorHandler`` only: the record's idempotency key (32 hex characters) |
| any other key | an ``extra=`` field, as given (names starting with ``_`` are skipped; ``uuid`` is one) |
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable
from json.encoder import encode_basestring
from typing import Any

from c2cwsgiutils import context

__all__ = [
    "CONTEXT_FIELDS",
    "RESERVED_ATTRIBUTES",
    "SCHEMA_FIELDS",
    "SYSLOG_LEVELS",
    "constant_fields",
    "correlation_of",
    "extra_keys",
    "record_to_dict",
    "record_to_json",
    "safe_repr",
    "syslog_level",
]

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

# The names the schema (and the formatters and handler built on it) write: an ``extra=`` field
# with one of these names goes into ``c2c_extra`` instead of replacing the real value.
SCHEMA_FIELDS = frozenset(
    {
        "timestamp",
        "created",
        "msg",
        "level",
        "level_name",
        "levelno",
        "logger_name",
        "file",
        "line",
        "function",
        "pid",
        "process_name",
        "thread_name",
        "host",
        "service",
        *CONTEXT_FIELDS,
        "exception",
        "stack",
        "c2c_uuid",
        "c2c_extra",
        "encoding_error",  # JsonFormatter's fallback
        "truncated",  # CeeSysLogHandler's cut records
    }
)
_CORRELATION_EXTRAS = frozenset(CONTEXT_FIELDS)

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
_second_number = ""


def _new_second(seconds: int) -> None:
    # strftime is the costliest part of a record: compute it once per second.
    global _second, _second_text, _second_number
    _second_text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    _second_number = str(seconds)
    _second = seconds


def _timestamp(created: float) -> str:
    seconds = int(created)
    if seconds != _second:
        _new_second(seconds)
    return f"{_second_text}.{int((created - seconds) * 1_000_000):06d}Z"


_LAST_STANDARD = list(vars(logging.LogRecord("", 0, "", 0, "", (), None)))[-1]


def extra_keys(attributes: dict[str, Any]) -> list[str]:
    """The names of the ``extra=`` fields of a record's ``__dict__``, in the order they were set.

    Skips the standard attributes, the correlation fields and names starting with ``_``. A
    LogRecord sets its standard attributes first: only what follows the last of them is looked at.
    """
    found: list[str] = []
    for key in reversed(attributes):
        if key == _LAST_STANDARD:
            break
        if key not in RESERVED_ATTRIBUTES and key[0] != "_":
            found.append(key)
    found.reverse()
    return found


def _collides(name: str, own_correlation: bool) -> bool | None:
    """Whether the extra field ``name`` goes into ``c2c_extra`` (``None``: it is not written at all).

    The correlation fields are the record's own when it carries a ``request_id`` (the filter sets
    all six); without one, any of them on the record is the caller's data.
    """
    if name in RESERVED_ATTRIBUTES:
        if name in _CORRELATION_EXTRAS and not own_correlation:
            return True
        return None
    return name in SCHEMA_FIELDS


def split_extras(attributes: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The ``extra=`` names of a record's ``__dict__``: written as they are, and into ``c2c_extra``."""
    own_correlation = attributes.get("request_id") is not None
    plain: list[str] = []
    collided: list[str] = []
    for key in reversed(attributes):
        if key == _LAST_STANDARD:
            break
        if key[0] == "_":
            continue
        where = _collides(key, own_correlation)
        if where is None or (key == "request_id" and attributes[key] is None):
            continue
        (collided if where else plain).append(key)
    plain.reverse()
    collided.reverse()
    return plain, collided


_get_context = context.current
_correlation = context.correlation


def safe_repr(value: Any) -> str:
    """``repr(value)``, or ``<unrepresentable TYPE>`` when that raises: what a JSON writer puts for a
    value JSON cannot hold (the JSON handler, the collector handler)."""
    try:
        return repr(value)
    except Exception:
        return f"<unrepresentable {type(value).__name__}>"


def correlation_of(attributes: dict[str, Any], ctx: context.Context | None = None) -> tuple[Any, ...]:
    """The correlation fields of a record (:data:`CONTEXT_FIELDS`, in that order): its own when it
    carries a ``request_id`` (the :class:`~c2cwsgiutils.logging.ContextFilter` stamped them, or the
    caller gave them), else those of ``ctx`` (default: the current context)."""
    request_id = attributes.get("request_id")
    if request_id is not None:
        get = attributes.get
        return (
            request_id,
            get("trace_id", ""),
            get("span_id", ""),
            get("parent_span_id", ""),
            get("kind", ""),
            get("task_id", ""),
        )
    return _correlation(_get_context() if ctx is None else ctx)


def _message(record: logging.LogRecord) -> str:
    """``record.getMessage()`` that never raises: a broken ``msg % args`` shows both and the error."""
    msg = record.msg
    args = record.args
    try:
        message = str(msg) if type(msg) is not str else msg
        if args:
            message = message % args
    except Exception as exc:  # a broken %-format must not lose the record
        message = f"{msg!r} % {args!r} ({type(exc).__name__})"
    return message


def record_to_dict(
    record: logging.LogRecord,
    service: str = "",
    formatter: logging.Formatter | None = None,
    ctx: context.Context | None = None,
) -> dict[str, Any]:
    """The JSON-ready dict of ``record`` (values may still need ``default=repr`` when encoding).

    ``ctx``: the correlation context when the record carries none (default: the current one).
    Never raises for a broken ``msg % args``: the message then shows both, and the error's type.
    """
    attributes = record.__dict__
    message = _message(record)
    created = record.created
    levelno = record.levelno
    level = SYSLOG_LEVELS.get(levelno)
    result: dict[str, Any] = {
        "timestamp": _timestamp(created),
        "created": created,
        "msg": message,
        "level": syslog_level(levelno) if level is None else level,
        "level_name": record.levelname,
        "levelno": levelno,
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
    (
        result["request_id"],
        result["trace_id"],
        result["span_id"],
        result["parent_span_id"],
        result["kind"],
        result["task_id"],
    ) = correlation_of(attributes, ctx)
    plain, collided = split_extras(attributes)
    for key in plain:
        result[key] = attributes[key]
    if record.exc_info:
        if not record.exc_text:
            record.exc_text = (formatter or _FORMATTER).formatException(record.exc_info)
        result["exception"] = record.exc_text
    elif record.exc_text:
        result["exception"] = record.exc_text
    if record.stack_info:
        result["stack"] = record.stack_info
    saved = attributes.get("_c2c_extra")  # what the context filter kept (see filter.py)
    if collided or saved:
        result["c2c_extra"] = {**saved} if isinstance(saved, dict) else {}
        for key in collided:
            result["c2c_extra"][key] = attributes[key]
    return result


_FORMATTER = logging.Formatter()


# ---- the same record, straight to JSON text ------------------------------------------------
#
# json.dumps(record_to_dict(...)) spends most of its time escaping the same strings again and
# again (logger name, file, function, host ...) and in float repr: record_to_json writes the
# fixed fields with a template, escapes each variable string once, and caches the escaped form of
# the strings that repeat. tests/logging/test_json.py checks it gives exactly record_to_dict.

_escape = encode_basestring  # the C implementation: '"' + escaped + '"'
_escaped: dict[str | None, str] = {None: "null"}
_MAX_ESCAPED = 4096


def escaped(value: Any) -> str:
    """``value`` as a JSON string literal (``null`` for ``None``), cached: for the strings that repeat
    from record to record (logger names, files, functions, threads).
    """
    result = _escaped.get(value)
    if result is None:
        if len(_escaped) >= _MAX_ESCAPED:
            _escaped.clear()
            _escaped[None] = "null"
        result = _escaped[value] = _escape(value)
    return result


EMPTY_STRING = '""'


_SITES: dict[tuple[Any, ...], str] = {}


def _site(key: tuple[Any, ...]) -> str:
    # The fields that only depend on where and by whom the call was made, encoded once per call site.
    levelno, levelname, name, pathname, lineno, function, pid, process_name, thread_name, constant = key
    text = (
        f'"level":{syslog_level(levelno)},"level_name":{escaped(levelname)},'
        f'"levelno":{levelno},"logger_name":{escaped(name)},"file":{escaped(pathname)},'
        f'"line":{"null" if lineno is None else int(lineno)},"function":{escaped(function)},'
        f'"pid":{"null" if pid is None else int(pid)},"process_name":{escaped(process_name)},'
        f'"thread_name":{escaped(thread_name)}{constant},'
    )
    if len(_SITES) >= _MAX_ESCAPED:
        _SITES.clear()
    _SITES[key] = text
    return text


def record_to_json(
    record: logging.LogRecord,
    constant: str,
    encode: Callable[[Any], str],
    formatter: logging.Formatter | None = None,
    ctx: context.Context | None = None,
) -> str:
    """The JSON text of :func:`record_to_dict` for ``record``, built faster.

    ``constant`` is ``,"host":...,"service":...`` already encoded (see :func:`constant_fields`);
    ``encode`` encodes the ``extra=`` fields that are neither ``str`` nor ``int`` (a JSON encoder
    function); ``ctx`` is the correlation context when the record carries none (default: the
    current one). Raises what ``encode`` raises for values it cannot encode.
    """
    attributes = record.__dict__
    message = _message(record)
    created = record.created
    seconds = int(created)
    if seconds != _second:
        _new_second(seconds)
    fraction = str(1_000_000 + int((created - seconds) * 1_000_000))[1:]  # faster than :06d
    key = (
        record.levelno,
        record.levelname,
        record.name,
        record.pathname,
        record.lineno,
        record.funcName,
        record.process,
        record.processName,
        record.threadName,
        constant,
    )
    site = _SITES.get(key)
    if site is None:
        site = _site(key)
    request_id, trace_id, span_id, parent_span_id, kind, task_id = correlation_of(attributes, ctx)
    text = (
        f'{{"timestamp":"{_second_text}.{fraction}Z","created":{_second_number}.{fraction},'
        f'"msg":{_escape(message)},{site}'
        f'"request_id":{_escape(request_id) if request_id else EMPTY_STRING},'
        f'"trace_id":{_escape(trace_id) if trace_id else EMPTY_STRING},'
        f'"span_id":{_escape(span_id) if span_id else EMPTY_STRING},'
        f'"parent_span_id":{_escape(parent_span_id) if parent_span_id else EMPTY_STRING},'
        f'"kind":{_escape(kind) if kind else EMPTY_STRING},'
        f'"task_id":{_escape(task_id) if task_id else EMPTY_STRING}'
    )
    extra: list[str] | None = None
    collided: list[str] | None = None
    own_correlation = attributes.get("request_id") is not None
    for name in reversed(attributes):  # the extra= fields: see split_extras
        if name == _LAST_STANDARD:
            break
        if name[0] == "_":
            continue
        into_c2c_extra = False
        if name in RESERVED_ATTRIBUTES or name in SCHEMA_FIELDS:
            where = _collides(name, own_correlation)
            if where is None or (name == "request_id" and attributes[name] is None):
                continue
            into_c2c_extra = where
        value = attributes[name]
        kind_of_value = type(value)
        if kind_of_value is str:
            encoded = _escape(value)
        elif kind_of_value is int:
            encoded = str(value)
        else:
            encoded = encode(value)
        if into_c2c_extra:
            if collided is None:
                collided = []
            collided.append(f"{escaped(name)}:{encoded}")
            continue
        if extra is None:
            extra = []
        extra.append(f",{_escaped.get(name) or escaped(name)}:{encoded}")
    if extra is not None:
        extra.reverse()
        text += "".join(extra)
    if record.exc_info:
        if not record.exc_text:
            record.exc_text = (formatter or _FORMATTER).formatException(record.exc_info)
        text += ',"exception":' + _escape(record.exc_text)
    elif record.exc_text:
        text += ',"exception":' + _escape(record.exc_text)
    if record.stack_info:
        text += ',"stack":' + _escape(record.stack_info)
    saved = attributes.get("_c2c_extra")  # what the context filter kept (see filter.py)
    if saved:
        kept = [f"{escaped(str(k))}:{encode(v)}" for k, v in saved.items()] if type(saved) is dict else []
        collided = kept + (collided[::-1] if collided else [])
    elif collided is not None:
        collided.reverse()
    if collided:
        text += ',"c2c_extra":{' + ",".join(collided) + "}"
    return text + "}"


def constant_fields(service: str) -> str:
    """The encoded ``host`` and ``service`` fields for :func:`record_to_json`."""
    return f',"host":{_escape(HOSTNAME)},"service":{_escape(service)}'
