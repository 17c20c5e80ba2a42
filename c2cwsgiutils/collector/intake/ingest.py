"""Turn request bodies into rows: HTTPHandler forms, JSON objects and NDJSON batches.

Each NDJSON line is validated on its own; a bad line becomes an error entry (its 1-based line
number and why), never an exception. Everything a record carries that is not a first-class
column is kept in ``data``. Strings that the databases cannot store (NUL, lone surrogates) are
replaced by U+FFFD; non-finite numbers and absurd nesting are refused.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
import time
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import unquote

import orjson

from c2cwsgiutils import _compiled
from c2cwsgiutils.collector import wire
from c2cwsgiutils.collector.intake.percent_decoding import SLICE, unquote_in_slices
from c2cwsgiutils.collector.query.filters import LEVEL_NAMES
from c2cwsgiutils.collector.wire import CORRELATION_COLUMNS, Row

_compiled.load("c2cwsgiutils.collector.intake._form_core")  # compiled when built so (see _compiled)
_compiled.load("c2cwsgiutils.collector.intake._batch_core")
from c2cwsgiutils.collector.intake import _batch_core, _form_core  # noqa: E402 - the modules load() chose

__all__ = [
    "BodyTooLarge",
    "ParsedBatch",
    "clean",
    "decode_body",
    "parse_form",
    "parse_form_body",
    "parse_json_object",
    "parse_line",
    "parse_ndjson",
]


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_UUID = re.compile(r"[0-9a-fA-F]{32}\Z")
# Keeps the brackets of a line, "{" as "[" and "}" as "]" (for _too_deep's depth count).
_BRACKETS = bytes.maketrans(b"{}", b"[]")
_NOT_BRACKETS = bytes(set(range(256)) - set(b"[]{}"))
_SYSLOG_TO_PYTHON = {0: 50, 1: 50, 2: 50, 3: 40, 4: 30, 5: 20, 6: 20, 7: 10}
# Wire fields that become columns (the rest goes to ``data``).
_MAPPED = wire.SCHEMA_NAMES
# LogRecord attribute -> name in the JSON record schema (c2cwsgiutils/logging/record.py).
_LOGRECORD_RENAMES = wire.RENAMES
_LOGRECORD_INTS = frozenset(("lineno", "process", "thread", "levelno"))
_LOGRECORD_FLOATS = frozenset(("msecs", "relativeCreated", "created"))
_RENAMES = _LOGRECORD_RENAMES
_RENAMED = frozenset(_LOGRECORD_RENAMES.values())
_RENAMED_FROM = frozenset(_LOGRECORD_RENAMES)
# What urlencode() sends: each field exactly one "name=value", none empty (one C scan to check).
_URLENCODED = re.compile(r"[^&=]*=[^&=]*(?:&[^&=]*=[^&=]*)*\Z")
# Form field -> (its name in the record, int / float / None when kept as text); plain extras absent.
_FORM_KINDS: dict[str, tuple[str, Any]] = {
    key: (
        _LOGRECORD_RENAMES.get(key, key),
        int if key in _LOGRECORD_INTS else float if key in _LOGRECORD_FLOATS else None,
    )
    for key in (*_LOGRECORD_RENAMES, *_LOGRECORD_INTS, *_LOGRECORD_FLOATS)
}
_INT_FIELDS = tuple((key, target) for key, (target, converter) in _FORM_KINDS.items() if converter is int)
_FLOAT_FIELDS = tuple((key, target) for key, (target, converter) in _FORM_KINDS.items() if converter is float)
_NAN = math.nan
_MAX_STRING = wire.MAX_STRING
_MAX_SHORT = wire.MAX_SHORT
_MAX_DEPTH = wire.MAX_DEPTH
_MAX_FORM_FIELDS = wire.MAX_FORM_FIELDS
_INT64 = 2.0**63
_UNDECODED: Any = _batch_core.UNDECODED
_C2C_UUID = wire.C2C_UUID
_C2C_EXTRA = wire.C2C_EXTRA
_FORM_FIELDS = wire.FORM_FIELDS
_FORM_COLLIDING = wire.FORM_COLLIDING
_FORM_REQUIRED = ("msg", "name", "levelno")


class BodyTooLarge(ValueError):
    """The (decoded) body exceeds the configured limit."""


class BadRecord(ValueError):
    """One record that cannot be stored; the message says why."""


@dataclass
class ParsedBatch:
    """Rows ready to insert and errors by 1-based line number."""

    rows: list[Row] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    lines: int = 0


def decode_body(body: bytes, content_encoding: str, limit: int) -> bytes:
    """The body, gunzipped when ``Content-Encoding: gzip``; raises BodyTooLarge / ValueError."""
    encoding = content_encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding not in ("gzip", "x-gzip", "deflate"):
        raise ValueError(f"unsupported Content-Encoding {encoding[:40]!r} (use gzip)")
    # A gzip body may hold several members one after the other (what concatenated gzip files
    # are, and what gzip tools write for a stream): each is decoded, not only the first.
    parts: list[bytes] = []
    size = 0
    rest = body
    while True:
        decompressor = zlib.decompressobj(wbits=47 if encoding != "deflate" else 15)
        try:
            decoded = decompressor.decompress(rest, limit + 1 - size)
        except zlib.error as exc:
            raise ValueError(f"body is not valid {encoding}: {exc}") from None
        size += len(decoded)
        if size > limit or decompressor.unconsumed_tail:
            raise BodyTooLarge(f"decoded body larger than the limit of {limit} bytes")
        parts.append(decoded)
        if not decompressor.eof:
            raise ValueError(f"body is not valid {encoding}: it ends within a compressed stream")
        rest = decompressor.unused_data
        if not rest or encoding == "deflate":
            break
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # JSON has no NaN: a form's "nan" stays text
        raise BadRecord(f"number out of range: {text[:40]}")
    return value


def _no_constant(text: str) -> float:
    raise BadRecord(f"{text} is not valid JSON")


_DECODER = json.JSONDecoder(parse_float=_finite, parse_constant=_no_constant)


def clean(value: Any) -> Any:
    """``value`` with NUL and lone surrogates replaced by U+FFFD in every string; raises BadRecord
    past the nesting limit."""
    return _clean(value)


def _clean(value: Any, depth: int = 0) -> Any:
    """``value`` with NUL and lone surrogates replaced in every string (the slow path)."""
    if depth > _MAX_DEPTH:
        raise BadRecord(f"nested deeper than {_MAX_DEPTH} levels")
    if isinstance(value, str):
        return _UNSTORABLE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_clean(k, depth + 1): _clean(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v, depth + 1) for v in value]
    return value


def _short(value: Any) -> str | None:
    if value is None or value == "":
        return None
    text = value if isinstance(value, str) else json.dumps(value)
    return text[:_MAX_SHORT]


def _data_text(data: dict[str, Any]) -> str:
    try:
        return orjson.dumps(data).decode("utf-8")
    except TypeError:  # orjson.JSONEncodeError: an integer past 64 bits, a non-string key ...
        pass
    try:
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    except (ValueError, TypeError, RecursionError) as exc:
        raise BadRecord(f"cannot encode the record: {exc}") from None


def _level(record: Mapping[str, Any]) -> int:
    levelno = record.get("levelno")
    if isinstance(levelno, int) and not isinstance(levelno, bool) and 0 <= levelno <= 1000:
        return levelno
    for key in ("level_name", "levelname"):
        name = record.get(key)
        if isinstance(name, str) and name.upper() in LEVEL_NAMES:
            return LEVEL_NAMES[name.upper()]
    level = record.get("level")
    if isinstance(level, str) and level.upper() in LEVEL_NAMES:
        return LEVEL_NAMES[level.upper()]
    if isinstance(level, int) and not isinstance(level, bool) and 0 <= level <= 7:
        return _SYSLOG_TO_PYTHON[level]
    if levelno is None and level is None:
        return 20
    raise BadRecord("levelno must be an integer 0..1000 (or level a syslog severity 0..7)")


def _time_us(record: Mapping[str, Any], now: float) -> int:
    created = record.get("created")
    if isinstance(created, (int, float)) and not isinstance(created, bool):
        if not 0 <= created < 1e11:
            raise BadRecord("created out of range")
        return wire.time_us(created)
    timestamp = record.get("timestamp")
    if isinstance(timestamp, str):
        try:
            moment = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
        except ValueError:
            raise BadRecord("timestamp must be ISO 8601") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        seconds = moment.timestamp()
        if not 0 <= seconds < 1e11:
            raise BadRecord("timestamp out of range")
        return wire.time_us(seconds)
    if created is not None or timestamp is not None:
        raise BadRecord("created must be a number (or timestamp an ISO 8601 string)")
    return int(now * 1_000_000)


def place_extra(data: dict[str, Any], extra: Any) -> None:
    """Put the user fields of ``c2c_extra`` into ``data``: each under its own name, or, when
    ``data`` already holds the record's own field of that name (``file``, ``line`` ...), under
    ``data["c2c_extra"]``. The record's own values are never overwritten."""
    if not isinstance(extra, dict):
        raise BadRecord(f"{_C2C_EXTRA} must be a JSON object (the user fields whose names the schema takes)")
    nested: dict[str, Any] = {}
    for name, value in extra.items():
        if name in data or name == _C2C_EXTRA:
            nested[name] = value
        else:
            data[name] = value
    if nested:
        data[_C2C_EXTRA] = nested


def record_to_row(record: Any, now: float) -> Row:
    """The row of one record in the wire schema; raises BadRecord.

    ``c2c_uuid`` is the idempotency key (row[0], not yet scoped to its writer: see
    :func:`scope_rows`); a ``uuid`` field is the user's and stays in ``data``. ``message`` (the
    formatted text) wins over ``msg``.
    """
    if not isinstance(record, dict):
        raise BadRecord("a record must be a JSON object")
    get = record.get
    key = get(_C2C_UUID)
    if key is not None:
        if not isinstance(key, str) or not _UUID.match(key):
            raise BadRecord(f"{_C2C_UUID} must be 32 hexadecimal characters")
        key = key.lower()
    if "message" in record:
        message = record["message"]
    elif "msg" in record:
        message = record["msg"]
    else:
        raise BadRecord("a record needs msg (or message): it has no message")
    if not isinstance(message, str):
        message = json.dumps(message)
    logger_name = record["logger_name"] if "logger_name" in record else get("name", "")
    if not isinstance(logger_name, str):
        raise BadRecord("logger_name must be a string")
    data = record.copy()
    for name in _MAPPED.intersection(record):
        del data[name]
    # One schema whatever the intake: a LogRecord attribute takes its schema name (``pathname``
    # -> ``file`` ...) and is left out when None, as in a form, unless the record has that name
    # too (then both are kept as they came).
    for name in _RENAMED_FROM.intersection(data):
        target = _RENAMES[name]
        if target not in record:
            value = data.pop(name)
            if target not in _MAPPED and value is not None:
                data[target] = value
    if "exc_info" in data and data["exc_info"] is None:
        del data["exc_info"]
    # The template of a formatted message (Chronologer's ``meta.msg``).
    if "msg" in record and "message" in record and record["msg"] != record["message"]:
        data["msg"] = record["msg"]
    if _C2C_EXTRA in record:
        place_extra(data, record[_C2C_EXTRA])
    row = [key, _time_us(record, now), _level(record), logger_name[:_MAX_SHORT], message[:_MAX_STRING]]
    for name in CORRELATION_COLUMNS:
        value = get(name)
        if value.__class__ is str:
            row.append(value[:_MAX_SHORT] or None)
        else:
            row.append(_short(value))
    row.append(_data_text(data))
    return tuple(row)


def scoped_key(writer: str, key: str) -> str:
    """The stored idempotency key of ``key`` sent by ``writer`` (its credential name, "" when the
    collector has no credentials): 32 hex digits of BLAKE2b over both, so one writer's keys can
    never match another's."""
    return hashlib.blake2b(f"{writer}\x00{key}".encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def scope_rows(rows: list[Row], writer: str) -> list[Row]:
    """``rows`` with each idempotency key (row[0]) replaced by its :func:`scoped_key`."""
    return [row if row[0] is None else (scoped_key(writer, row[0]), *row[1:]) for row in rows]


def _needs_cleaning(line: bytes) -> bool:
    return b"\\u0000" in line or b"\\ud" in line or b"\\uD" in line


def _too_deep(line: bytes) -> bool:
    """Whether the containers of ``line`` nest deeper than ``_MAX_DEPTH`` (brackets inside strings
    do not count: the rule is the short path's, ``_batch_core.plain``, which looks at decoded values).

    O(len(line)) in C: no regular expression, whose backtracking over an unterminated string of
    escaped quotes made this quadratic (a 64 KB line took 34 s).
    """
    if line.count(b"[") + line.count(b"{") <= _MAX_DEPTH:
        return False
    if b'"' in line:
        if b"\\" in line:
            # In valid JSON a backslash only starts an escape inside a string, and escapes pair
            # from the left as bytes.replace() does: once the escaped backslashes, then the escaped
            # quotes, are gone, every quote left opens or closes a string.
            line = line.replace(b"\\\\", b"").replace(b'\\"', b"")
        line = b"".join(line.split(b'"')[::2])  # the text outside the strings
        if line.count(b"[") + line.count(b"{") <= _MAX_DEPTH:
            return False
    brackets = line.translate(_BRACKETS, _NOT_BRACKETS)  # only "[" (0x5B) and "]" (0x5D) left
    return max(itertools.accumulate(map(0x5C.__sub__, brackets)), default=0) > _MAX_DEPTH


def _decode(line: bytes) -> Any:
    """The stdlib decoder, whose errors are the ones users see (and which keeps big integers)."""
    try:
        return _DECODER.decode(line.decode("utf-8"))
    except UnicodeDecodeError:
        raise BadRecord("not UTF-8") from None
    except (ValueError, RecursionError) as exc:
        if isinstance(exc, BadRecord):
            raise
        raise BadRecord(f"invalid JSON: {str(exc)[:200]}") from None


def _keeps_numbers(value: dict[str, Any] | list[Any]) -> bool:
    """False when a float may be an integer past 64 bits that orjson turned into a float."""
    values = value.values() if type(value) is dict else value
    kinds = set(map(type, values))  # the common case (no float, no container) stays in C
    if float in kinds:
        for item in values:
            if type(item) is float and not -_INT64 < item < _INT64:
                return False
    if dict in kinds or list in kinds:
        for item in values:
            if (type(item) is dict or type(item) is list) and not _keeps_numbers(item):
                return False
    return True


def parse_line(line: bytes, now: float, decoded: Any = _UNDECODED) -> Row:
    """The row of one line (the general path); ``decoded``: what orjson made of it, if known."""
    if _too_deep(line):
        raise BadRecord(f"nested deeper than {_MAX_DEPTH} levels")
    # orjson first (several times faster). It refuses what the stdlib decoder refuses (NaN,
    # overflowing numbers, lone surrogates, control characters, bad UTF-8): those lines go through
    # the stdlib decoder, for its error message or its replacements, and so do records where a
    # float may be an integer too large for orjson (the stdlib decoder keeps it exact).
    record = decoded
    if record is _UNDECODED:
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            record = _decode(line)
    if type(record) is dict and not _keeps_numbers(record):
        record = _decode(line)
    if b"\\u" in line and _needs_cleaning(line):
        record = _clean(record)
    return record_to_row(record, now)


def _general_row(line: bytes, now: float, decoded: Any) -> Row | str:
    """The row of ``line`` by the general path, or why it cannot be stored."""
    try:
        return parse_line(line, now, decoded)
    except BadRecord as exc:
        return str(exc)


def parse_ndjson(body: bytes, max_records: int) -> ParsedBatch:
    """Rows and per-line errors of an NDJSON body; raises BodyTooLarge past ``max_records``.

    Each line is decoded by orjson and turned into a row by ``_batch_core.usual_row`` when it
    has the usual shape of a record; the other lines (bad JSON, a NUL escape, an unusual record)
    go through :func:`parse_line`.
    """
    batch = ParsedBatch()
    rows, errors = batch.rows, batch.errors
    if not _batch_core.parse_lines(body, time.time(), _general_row, rows, errors, max_records=max_records):
        non_empty = sum(1 for line in body.split(b"\n") if line.strip())
        raise BodyTooLarge(f"{non_empty} records in one batch, more than the limit of {max_records}")
    batch.lines = len(batch.rows) + len(batch.errors)
    return batch


def parse_json_object(body: bytes) -> Row:
    """The row of a body holding one JSON object; raises BadRecord."""
    return parse_line(body.strip(), time.time())


def form_fields(body: bytes) -> list[tuple[str, str]]:
    """The fields of a form body, exactly as ``urllib.parse.parse_qsl`` reads them.

    Latin-1 text, blank values kept, at most 10,000 fields (ValueError past that). parse_qsl
    unquotes each name and value on its own (~40 calls for an HTTPHandler form): here they are
    unquoted in one call, joined by NUL, which no name or value holds and no escape can produce
    when the body has no ``%00`` (else the slow way). NUL is ASCII and never part of a UTF-8
    sequence, so every part decodes as it would alone.
    """
    text = body.decode("latin-1")
    if not text:
        return []
    if text.count("&") + 1 > _MAX_FORM_FIELDS:
        raise ValueError("Max number of fields exceeded")
    if "\x00" in text or "%00" in text:
        return [(_unquote_plus(name), _unquote_plus(value)) for name, value in _split_pairs(text)]
    if _URLENCODED.match(text):
        # What urlencode() sends: each field is exactly one "name=value" (all in C from here).
        joined = text.replace("=", "\x00").replace("&", "\x00")
    else:
        split = _split_pairs(text)
        if not split:
            return []
        joined = "\x00".join(part for pair in split for part in pair)
    if "+" in joined:
        joined = joined.replace("+", " ")
    if "%" in joined:
        joined = _unquote_ascii(joined)
    decoded = iter(joined.split("\x00"))
    return list(zip(decoded, decoded, strict=True))


# "%XX" -> its character, for the escapes of ASCII characters (either case of hex digit).
_ASCII_ESCAPES = _form_core.ASCII_ESCAPES


def _unquote_ascii(text: str) -> str:
    """``unquote(text)``: one dict lookup per escape when every escape is of an ASCII character.

    Such an escape decodes to its own character whatever surrounds it (UTF-8 and ``errors="replace"``
    only matter for bytes past 0x7F); anything else (a multi-byte sequence, a malformed escape) goes
    through ``unquote`` itself.
    """
    if len(text) > SLICE:  # no split of it all into small strings (issue #18): decoded in slices
        return unquote_in_slices(text)
    parts = text.split("%")
    escapes = _ASCII_ESCAPES
    out = [parts[0]]
    append = out.append
    for part in itertools.islice(parts, 1, None):
        char = escapes.get(part[:2])
        if char is None:
            return unquote(text)
        append(char)
        append(part[2:])
    return "".join(out)


def _split_pairs(text: str) -> list[tuple[str, str]]:
    pairs = []
    for pair in text.split("&"):
        if pair:
            name, _, value = pair.partition("=")
            pairs.append((name, value))
    return pairs


def _unquote_plus(text: str) -> str:
    return unquote_in_slices(text.replace("+", " "))


def parse_form_body(body: bytes) -> Row:
    """The row of an ``application/x-www-form-urlencoded`` body; raises BadRecord / ValueError.

    The forms HTTPHandler sends take the compiled one-pass way (:mod:`_form_core`, same rows).
    """
    row = _form_core.usual_row(body, time.time())
    if row is not None:
        return row
    return parse_form(form_fields(body), b"\x00" in body or b"%00" in body)


def parse_form(fields: Iterable[tuple[str, str]], may_hold_nul: bool = True) -> Row:
    """The row of a form sent by ``logging.handlers.HTTPHandler`` (``LogRecord.__dict__``).

    The LogRecord's own fields (``wire.FORM_FIELDS``) map onto the schema; every other
    field is a user's ``extra=``, typed by ``_form_core.extra_value`` and kept in ``data``, also
    when its name is one the schema takes (``level``, ``file``, ``host`` ...: see
    :func:`place_extra`). Raises BadRecord when ``msg``, ``name`` or ``levelno`` is missing.
    """
    pairs = fields if isinstance(fields, list) else list(fields)
    raw = dict(pairs)
    # Decoded with errors="replace": no lone surrogate, only NUL to replace.
    if may_hold_nul and any("\x00" in key or "\x00" in value for key, value in raw.items()):
        raw = {key.replace("\x00", "\ufffd"): value.replace("\x00", "\ufffd") for key, value in pairs}
    missing = [name for name in _FORM_REQUIRED if name not in raw]
    if missing:
        raise BadRecord(f"missing form field: {', '.join(missing)} (HTTPHandler sends msg, name and levelno)")
    record: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    budget = [_form_core.MAX_LITERALS]
    for key, value in raw.items():
        if key not in _FORM_FIELDS:
            typed = _form_core.extra_value(value, budget)
            if key in _FORM_COLLIDING:
                extra[key] = typed
            else:
                record[key] = typed
        elif value != "None":
            kind = _FORM_KINDS.get(key)
            if key == "args":  # typed as Chronologer restores it: "(8, 'a')" -> [8, "a"]
                record[key] = _form_core.extra_value(value, budget)
            elif kind is None:
                record[key] = value
            else:
                record[kind[0]] = _convert(key, value, kind[1])
    message = _form_core.form_message(raw)
    record["message"] = message
    record["msg"] = raw["msg"]  # record_to_row keeps it when it is a template
    if extra:
        record[_C2C_EXTRA] = extra
    return record_to_row(record, time.time())


def _convert(key: str, value: str, converter: Any) -> Any:
    if converter is int:
        digits = value.lstrip("-")
        return int(value) if digits.isascii() and digits.isdigit() and len(value) < 19 else value
    if converter is float:
        try:
            return _finite(value)
        except (ValueError, BadRecord):
            if key == "created":
                raise BadRecord("created must be a number") from None
    return value
