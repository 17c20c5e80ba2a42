"""A stored record as the read endpoints answer it: Chronologer's shape, ours beside it (#24).

Chronologer 0.4.x answers a record as ``id``, ``name``, ``ts`` (``str()`` of an aware UTC
datetime: ``2017-06-10 15:01:02.063507+00:00``), ``level``, ``message`` and ``logrec``, whose
``meta`` holds the LogRecord attributes under their LogRecord names, ``error`` the exception
(``exc_text``, ``exc_info``) and ``data`` the user's extras; empty parts are left out. Its UI and
its users' scripts read that, so every read answer of ``/api/v1/record`` has it.

The collector stores every record in one schema (:mod:`c2cwsgiutils.collector.wire`: ``file``,
``line``, ``function`` ... whatever the intake). ``logrec`` is rebuilt from it, with the
LogRecord names back; our fields come beside (``time`` in ISO 8601, ``uuid``, ``created``,
``level_name``, the correlation columns and ``data`` in our schema), unless the answer is asked
in the ``chronologer`` shape (``C2C_COLLECTOR_RECORD_SHAPE`` or ``?shape=``), which has
Chronologer's fields only: what a client that compares whole records needs.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any, Final

from c2cwsgiutils.collector import wire

__all__ = ["SHAPES", "chronologer_ts", "iso_time", "logrec", "present", "present_ours", "row_dict"]

SHAPES: Final = ("full", "chronologer")
# Our schema name -> the LogRecord attribute it holds (wire.RENAMES, the other way round).
_LOGRECORD_NAMES: Final = {ours: theirs for theirs, ours in wire.RENAMES.items()}
# The attributes of a LogRecord that Chronologer files under ``meta`` (what a ``LogRecord`` has
# before formatting; taskName since Python 3.12).
_META: Final = frozenset(
    (
        "args",
        "filename",
        "funcName",
        "lineno",
        "module",
        "msecs",
        "msg",
        "pathname",
        "process",
        "processName",
        "relativeCreated",
        "stack_info",
        "taskName",
        "thread",
        "threadName",
    )
)
# Redundant with the record's own fields: Chronologer drops them.
_DROPPED: Final = frozenset(("asctime", "levelname", "exc_info", "exc_text"))


def iso_time(time_us: int) -> str:
    """ISO 8601 UTC with microseconds and ``Z``: our ``time`` field."""
    seconds, micros = divmod(int(time_us), 1_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{micros:06d}Z"


def chronologer_ts(time_us: int) -> str:
    """Chronologer's ``ts``: ``str()`` of the aware UTC datetime (no fraction when it is zero)."""
    seconds, micros = divmod(int(time_us), 1_000_000)
    text = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(seconds))
    return f"{text}.{micros:06d}+00:00" if micros else f"{text}+00:00"


def logrec(data: dict[str, Any] | None, message: str) -> dict[str, Any]:
    """Chronologer's ``logrec`` of a record's stored ``data``: ``meta``, ``error``, ``data``,
    each only when not empty."""
    meta: dict[str, Any] = {}
    error: dict[str, Any] = {}
    user: dict[str, Any] = {}
    for key, value in (data or {}).items():
        if key == wire.C2C_EXTRA and isinstance(value, dict):
            user.update(value)  # the user's fields whose names our schema takes
            continue
        name = _LOGRECORD_NAMES.get(key, key)
        if name == "exc_text":
            if value:
                error["exc_text"] = value
        elif name in _META:
            meta[name] = value
        elif name not in _DROPPED:
            user[key] = value
    if error:
        error["exc_info"] = (data or {}).get("exc_info")
    if meta:
        # What a LogRecord always has: a form leaves "None" out, the message is the template
        # when no other came with it.
        meta.setdefault("msg", message)
        meta.setdefault("stack_info", None)
    return {name: part for name, part in (("data", user), ("meta", meta), ("error", error)) if part}


def row_dict(row: wire.Row, record_id: int | None) -> dict[str, Any]:
    """A row as the intake made it (``wire.INSERT_COLUMNS`` order) as the storage reads it back."""
    result = dict(zip(wire.INSERT_COLUMNS, row, strict=True))
    result["id"] = record_id
    result["data"] = json.loads(result["data"])
    return result


def present(row: dict[str, Any], shape: str = "full") -> dict[str, Any]:
    """A record of ``/api/v1/record``: Chronologer's fields, then ours unless ``shape`` is
    ``chronologer``."""
    result: dict[str, Any] = {
        "id": row["id"],
        "name": row["logger_name"],
        "ts": chronologer_ts(row["time_us"]),
        "level": row["level"],
        "message": row["message"],
        "logrec": logrec(row.get("data"), row["message"]),
    }
    if shape == "chronologer":
        return result
    return {**result, **present_ours(row)}


def present_ours(row: dict[str, Any]) -> dict[str, Any]:
    """A record in our own shape (the request view): flat, ``time`` in ISO 8601."""
    level = row["level"]
    result: dict[str, Any] = {
        "id": row["id"],
        "uuid": row["uuid"],
        "time": iso_time(row["time_us"]),
        "created": row["time_us"] / 1_000_000,
        "level": level,
        "level_name": logging.getLevelName(level),
        "name": row["logger_name"],
        "message": row["message"],
    }
    for key in wire.CORRELATION_COLUMNS:
        result[key] = row[key]
    if "data" in row:
        result["data"] = row["data"]
    return result
