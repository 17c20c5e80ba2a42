"""The record's wire schema: what parsing, storage and the OpenAPI document all read.

A record travels as a JSON object, an NDJSON line or an ``HTTPHandler`` form; the intake turns it
into a :data:`Row`, a tuple in :data:`INSERT_COLUMNS` order that the storage inserts as it is. This
module holds the names and limits that define that shape: the LogRecord attributes renamed on the
way in, the correlation columns, the reserved fields and the length limits. It imports nothing of
the collector, so that the compiled fast paths, the reference parser, the relay and the storage
read one definition.
"""

from __future__ import annotations

from typing import Any, Final

__all__ = [
    "C2C_EXTRA",
    "C2C_UUID",
    "CORRELATION_COLUMNS",
    "FLOATS",
    "FORM_COLLIDING",
    "FORM_FIELDS",
    "INSERT_COLUMNS",
    "INTS",
    "MAX_DEPTH",
    "MAX_FORM_FIELDS",
    "MAX_SHORT",
    "MAX_STRING",
    "NOT_DATA",
    "RENAMED",
    "RENAMES",
    "SCHEMA_NAMES",
    "Row",
    "time_us",
]

# The text columns that carry a record's origin and correlation, with the same name on the wire.
CORRELATION_COLUMNS: Final = (
    "host",
    "service",
    "request_id",
    "trace_id",
    "span_id",
    "parent_span_id",
    "task_id",
    "kind",
)
# Column order of a Row: the tuples that the intake produces and the storage inserts.
INSERT_COLUMNS: Final = ("uuid", "time_us", "level", "logger_name", "message", *CORRELATION_COLUMNS, "data")
# One record as the intake gives it to the storage: values in INSERT_COLUMNS order, ``data``
# already JSON text.
Row = tuple[Any, ...]

MAX_STRING: Final = 1_000_000
MAX_SHORT: Final = 512
MAX_FORM_FIELDS: Final = 10_000
# LogRecord attribute -> its name in the record schema.
RENAMES: Final[dict[str, str]] = {
    "pathname": "file",
    "lineno": "line",
    "funcName": "function",
    "process": "pid",
    "processName": "process_name",
    "threadName": "thread_name",
    "exc_text": "exception",
    "stack_info": "stack",
    "levelname": "level_name",
    "name": "logger_name",
}
RENAMED: Final = frozenset(RENAMES.values())
INTS: Final = frozenset(("line", "pid", "thread", "levelno"))  # after renaming
FLOATS: Final = frozenset(("msecs", "relativeCreated", "created"))
# The reserved wire fields: the idempotency key that the shipping side sets (never a user's
# ``uuid``), and the object of the user fields whose names the record's own fields take.
C2C_UUID: Final = "c2c_uuid"
C2C_EXTRA: Final = "c2c_extra"
# Fields that become columns, not ``data``. (``exc_info``, the text of the exception tuple, is
# kept in ``data`` when it is not None: Chronologer answers it in ``logrec.error``.)
NOT_DATA: Final = frozenset(
    (
        C2C_UUID,
        C2C_EXTRA,
        "timestamp",
        "created",
        "level",
        "levelno",
        "level_name",
        "msg",
        "message",
        "logger_name",
        *CORRELATION_COLUMNS,
    )
)
# The fields of a form that are the record's own: LogRecord attributes, the correlation fields
# of c2cwsgiutils' logging filter, and the idempotency key. Every other field is a user's extra.
FORM_FIELDS: Final = frozenset(
    (
        *RENAMES,
        "msg",
        "args",
        "levelno",
        "filename",
        "module",
        "exc_info",
        "created",
        "msecs",
        "relativeCreated",
        "thread",
        "taskName",
        "message",
        "asctime",
        "request_id",
        "trace_id",
        "span_id",
        "parent_span_id",
        "task_id",
        "kind",
        C2C_UUID,
    )
)
# User extras of a form whose names the record schema takes (a column, a field kept in ``data``
# under that name, a reserved field): kept in ``data`` through ``c2c_extra`` (see intake.ingest.place_extra).
FORM_COLLIDING: Final = (NOT_DATA | RENAMED) - FORM_FIELDS
# The wire fields that never reach ``data`` under their own name.
SCHEMA_NAMES: Final = NOT_DATA
MAX_DEPTH: Final = 64  # nesting of a record's JSON values


def time_us(created: float) -> int:
    """Microseconds since the epoch of a LogRecord's ``created`` (POSIX seconds, >= 0), rounded
    as ``datetime.fromtimestamp`` rounds them (Chronologer's ``ts``), not truncated: 0.0635066 s is
    63507 µs. The compiled intake paths inline this expression."""
    whole = int(created)
    return whole * 1_000_000 + round((created - whole) * 1_000_000)
