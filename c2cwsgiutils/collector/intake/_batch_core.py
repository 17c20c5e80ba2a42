"""NDJSON batches line by line, and their rows grouped for SQLite: the collector's batch hot path.

Compiled with mypyc when the package is built with a C compiler (see setup.py and
:mod:`c2cwsgiutils._compiled`); the same file runs as plain Python otherwise.

- :func:`parse_lines` splits a body into lines, decodes each with orjson and gives the row of a
  record of the usual shape (:func:`usual_row`); any other line goes to the general path of
  :mod:`c2cwsgiutils.collector.intake.ingest` (the reference: a test compares both on random records),
  which converts it, truncates it or names the error.
- :func:`null_runs` groups consecutive rows by which of their values are ``None`` (SQLite binds a
  ``None`` much more slowly than it reads a ``NULL`` written in the statement).
"""

from __future__ import annotations

import operator
from typing import Any, Final

import orjson

from c2cwsgiutils.collector.wire import CORRELATION_COLUMNS, MAX_DEPTH, MAX_SHORT, MAX_STRING, RENAMES

INT64: Final = 2.0**63
# The fields of a c2cwsgiutils record (record_to_json) that usual_row reads, in this order (it
# needs timestamp, level and level_name too, but created and levelno win over them).
USUAL_FIELDS: Final = (
    "c2c_uuid",
    "created",
    "levelno",
    "msg",
    "logger_name",
    *CORRELATION_COLUMNS,
    "timestamp",
    "level",
    "level_name",
)
_USUAL_VALUES: Final[Any] = operator.itemgetter(*USUAL_FIELDS)
# What the general path is given instead of a decoded record when orjson did not decode the line.
UNDECODED: Final[Any] = object()
# LogRecord attribute names that the schema renames (wire.RENAMES): a record that has one takes
# the general path.
LOGRECORD_NAMES: Final = frozenset(RENAMES)


def plain(values: Any, depth: int) -> bool:
    """Whether ``values`` (at nesting ``depth``) hold no float that may be an integer past 64 bits
    (orjson makes those floats) and no container nested deeper than ``MAX_DEPTH``."""
    for value in values:
        kind = type(value)
        if kind is float and not -INT64 < value < INT64:
            return False
        if kind is dict and (depth >= MAX_DEPTH or not plain(value.values(), depth + 1)):
            return False
        if kind is list and (depth >= MAX_DEPTH or not plain(value, depth + 1)):
            return False
    return True


def usual_row(record: dict[str, Any]) -> tuple[Any, ...] | None:
    """The row of a record decoded by orjson, exactly as ``ingest.record_to_row`` makes it, when
    the record has the usual shape of a c2cwsgiutils record; else ``None``, ``record`` untouched.

    The usual shape: the fields that ``record_to_json`` writes (text where text is expected, no
    longer than its column keeps), no ``message`` nor ``c2c_extra``, ``c2c_uuid`` 32 hexadecimal
    digits, ``created`` and ``levelno`` numbers in range, and no float past 2**63 nor nesting
    past ``MAX_DEPTH``. What remains of ``record`` once the columns are taken out is ``data``.
    """
    try:
        (
            uuid,
            created,
            levelno,
            msg,
            logger_name,
            host,
            service,
            request_id,
            trace_id,
            span_id,
            parent_span_id,
            task_id,
            kind,
            _timestamp,
            _level,
            _level_name,
        ) = _USUAL_VALUES(record)
    except KeyError:
        return None
    created_type = type(created)
    if not (
        isinstance(msg, str)
        and isinstance(logger_name, str)
        and isinstance(host, str)
        and isinstance(service, str)
        and isinstance(request_id, str)
        and isinstance(trace_id, str)
        and isinstance(span_id, str)
        and isinstance(parent_span_id, str)
        and isinstance(task_id, str)
        and isinstance(kind, str)
        and isinstance(uuid, str)
        and (created_type is float or created_type is int)
        and type(levelno) is int
    ):
        return None
    if (
        not 0 <= created < 1e11
        or not 0 <= levelno <= 1000
        or len(uuid) != 32
        or not uuid.isascii()
        or not uuid.isalnum()  # then int() reads hexadecimal digits only
        or "message" in record
        or "c2c_extra" in record
        or not LOGRECORD_NAMES.isdisjoint(record)  # renamed by the general path
        or len(msg) > MAX_STRING
        or len(logger_name) > MAX_SHORT
        or len(host) > MAX_SHORT
        or len(service) > MAX_SHORT
        or len(request_id) > MAX_SHORT
        or len(trace_id) > MAX_SHORT
        or len(span_id) > MAX_SHORT
        or len(parent_span_id) > MAX_SHORT
        or len(task_id) > MAX_SHORT
        or len(kind) > MAX_SHORT
        # The columns taken out are plain text and numbers in range: all values can be looked at.
        or not plain(record.values(), 1)
    ):
        return None
    try:
        int(uuid, 16)
    except ValueError:
        return None
    del (
        record["c2c_uuid"],
        record["created"],
        record["levelno"],
        record["msg"],
        record["logger_name"],
        record["host"],
        record["service"],
        record["request_id"],
        record["trace_id"],
        record["span_id"],
        record["parent_span_id"],
        record["task_id"],
        record["kind"],
        record["timestamp"],
        record["level"],
        record["level_name"],
    )
    return (
        uuid.lower(),
        int(created) * 1_000_000 + round((created - int(created)) * 1_000_000),  # wire.time_us
        levelno,
        logger_name,
        msg,
        host or None,
        service or None,
        request_id or None,
        trace_id or None,
        span_id or None,
        parent_span_id or None,
        task_id or None,
        kind or None,
        orjson.dumps(record).decode("utf-8"),  # only JSON values: orjson encodes them all
    )


def parse_lines(
    body: bytes, now: float, general: Any, rows: list[Any], errors: list[Any], *, max_records: int
) -> bool:
    """Append the row of each line of ``body`` to ``rows``, or its error to ``errors``.

    A line of the usual shape is taken by :func:`usual_row`; the others (bad JSON, a NUL escape,
    an unusual record) by ``general(line, now, decoded)``, which returns the row or the error's text
    (``decoded``: the record orjson made of the line, or ``UNDECODED``). Errors are
    ``{"line": n, "error": text}``, ``n`` counting every line from 1 (blank ones, skipped, too).
    Returns ``False``, as soon as it knows, when there are more than ``max_records`` records.
    """
    size = len(body)
    start = 0
    number = 0
    while start < size:
        end = body.find(b"\n", start)
        if end < 0:
            end = size
        line = body[start:end]
        start = end + 1
        number += 1
        if not line.strip():
            continue
        if len(rows) + len(errors) >= max_records:
            return False
        row: Any = None
        record: Any = UNDECODED
        # A NUL (the only character orjson decodes that needs replacing) is always escaped: 92
        # in line (a backslash; not b"\\", which raises and clears an error first) is a memchr(),
        # several times cheaper than the escape's search.
        if not (92 in line and b"\\u0000" in line):
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError:
                record = UNDECODED
            if type(record) is dict:
                row = usual_row(record)
        if row is None:
            row = general(line, now, record)
            if isinstance(row, str):
                errors.append({"line": number, "error": row})
                continue
        rows.append(row)
    return True


def null_pattern(row: tuple[Any, ...]) -> tuple[int, list[Any]]:
    """``(nulls, values)`` of one row, as :func:`null_runs` gives them for a run of one row."""
    nulls = 0
    bit = 1
    values: list[Any] = []
    for value in row:
        if value is None:
            nulls |= bit
        else:
            values.append(value)
        bit <<= 1
    return nulls, values


def null_runs(rows: Any) -> list[tuple[int, list[Any], int]]:
    """Runs of consecutive rows with the same ``None`` values: ``(nulls, values, count)``.

    ``nulls`` has bit ``i`` set when value ``i`` is ``None``; ``values`` are the other values of
    the ``count`` rows of the run, one row after the other (ready for a many-row ``VALUES``).
    """
    runs: list[tuple[int, list[Any], int]] = []
    values: list[Any] = []
    kept = -1
    count = 0
    for row in rows:
        nulls = 0
        bit = 1
        for value in row:
            if value is None:
                nulls |= bit
            bit <<= 1
        if nulls != kept:
            if count:
                runs.append((kept, values, count))
            values = []
            count = 0
            kept = nulls
        if nulls:
            for value in row:
                if value is not None:
                    values.append(value)
        else:
            values.extend(row)
        count += 1
    if count:
        runs.append((kept, values, count))
    return runs
