"""The row of a usual ``HTTPHandler`` form in one pass: the collector's single-record hot path.

Compiled with mypyc when the package is built with a C compiler (see setup.py and
:mod:`c2cwsgiutils._compiled`); the same file runs as plain Python otherwise. :func:`usual_row`
gives exactly the row that :func:`c2cwsgiutils.collector.ingest.parse_form_body` gives (the
reference, a test compares both on random forms) for the forms that ``logging.handlers.
HTTPHandler`` sends: fields read as ``urllib.parse.parse_qsl`` reads them, no NUL, no field name
that another one is renamed to, the typed fields plain numbers, ``created`` and ``levelno`` in
range. Anything else gives ``None`` and goes the general way, which converts it or names the
error. It skips the general path's list of pairs, its intermediate record and the copy of it.
"""

from __future__ import annotations

import ast
import math
import re
from typing import Any, Final
from urllib.parse import unquote

import orjson

from c2cwsgiutils.collector.schema import CORRELATION_COLUMNS

MAX_STRING: Final = 1_000_000
MAX_SHORT: Final = 512
MAX_FORM_FIELDS: Final = 10_000
# LogRecord attribute -> its name in the record schema (ingest.py uses these constants too).
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
# Fields that become columns, or are dropped (exc_info: exc_text has the traceback), not ``data``.
NOT_DATA: Final = frozenset(
    (
        "uuid",
        "timestamp",
        "created",
        "level",
        "levelno",
        "level_name",
        "msg",
        "message",
        "logger_name",
        "exc_info",
        *CORRELATION_COLUMNS,
    )
)
HEX: Final = frozenset("0123456789abcdefABCDEF")
# "%XX" -> its character, for the escapes of ASCII characters (either case of hex digit).
ASCII_ESCAPES: Final[dict[str, str]] = {
    f"{high}{low}": chr(int(f"{high}{low}", 16)) for high in "01234567" for low in "0123456789abcdefABCDEF"
}
ONE_INT: Final = re.compile(r"\((-?\d{1,18}),\)\Z")
ONE_STR: Final = re.compile(r"\('([^'\\]*)',\)\Z")
_DUMPS: Final[Any] = orjson.dumps


def _unquote(text: str) -> str:
    """``unquote(text)``, as parse_qsl does for each name and value (after replacing "+")."""
    if "%" not in text:
        return text
    parts = text.split("%")
    out = [parts[0]]
    for index in range(1, len(parts)):
        part = parts[index]
        char = ASCII_ESCAPES.get(part[:2])
        if char is None:  # a multi-byte UTF-8 sequence, a malformed escape: the stdlib's way
            return unquote(text)
        out.append(char)
        out.append(part[2:])
    return "".join(out)


def _fields(text: str) -> dict[str, str]:
    """``dict(parse_qsl(text, keep_blank_values=True))``: the last value of a repeated name wins."""
    fields: dict[str, str] = {}
    if "+" in text:  # parse_qsl replaces it in each name and value, before unquoting
        text = text.replace("+", " ")
    escaped = "%" in text
    end = len(text)
    position = 0
    while position <= end:
        amp = text.find("&", position)
        if amp < 0:
            amp = end
        if amp > position:
            equal = text.find("=", position, amp)
            if equal < 0:
                name, value = text[position:amp], ""
            else:
                name, value = text[position:equal], text[equal + 1 : amp]
            if escaped and text.find("%", position, amp) >= 0:
                name = _unquote(name)
                value = _unquote(value)
            fields[name] = value
        position = amp + 1
    return fields


def _literal(text: str) -> Any:
    # The usual one-argument cases without compiling Python source (literal_eval costs ~50 µs).
    match = ONE_INT.match(text)
    if match:
        return (int(match.group(1)),)
    match = ONE_STR.match(text)
    if match:
        return (match.group(1),)
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text


def form_message(fields: dict[str, str]) -> str:
    """The message of an HTTPHandler form: ``msg % args`` when the args parse and fit, else ``msg``."""
    if "message" in fields:
        return fields["message"]
    msg = fields.get("msg", "")
    args = fields.get("args", "None")
    if args in ("None", "()", "", "{}") or "%" not in msg or len(args) > 10_000:
        return msg
    values = _literal(args)
    if isinstance(values, (tuple, dict)):
        try:
            return str(msg % values)
        except (TypeError, ValueError, KeyError, OverflowError, MemoryError):
            return msg
    return msg


def _short(value: str | None) -> str | None:
    return value[:MAX_SHORT] or None if value is not None else None


def usual_row(body: bytes, now: float) -> tuple[Any, ...] | None:
    """The row of an ``HTTPHandler`` form as ``ingest.parse_form_body`` makes it, or ``None``
    when the form is not of the usual shape (see the module's documentation)."""
    text = body.decode("latin-1")
    if "\x00" in text or "%00" in text or text.count("&") >= MAX_FORM_FIELDS:
        return None
    fields = _fields(text)
    if not RENAMED.isdisjoint(fields):
        return None  # "file", "line"...: which of it and its LogRecord name wins is for the general path
    data: dict[str, Any] = {}
    columns: dict[str, str] = {}
    for name, value in fields.items():
        if value == "None":
            continue
        target = RENAMES.get(name, name)
        if target in NOT_DATA:
            columns[target] = value
        elif target in INTS:
            if not (value.isdigit() and value.isascii() and len(value) < 19):
                return None
            data[target] = int(value)
        elif target in FLOATS:
            try:
                number = float(value)
            except ValueError:
                return None
            if not math.isfinite(number):
                return None
            data[target] = number
        else:
            data[target] = value
    uuid = columns.get("uuid")
    if uuid is not None:
        if len(uuid) != 32 or not HEX.issuperset(uuid):
            return None
        uuid = uuid.lower()
    created_text = columns.get("created")
    levelno_text = columns.get("levelno")
    if created_text is None or levelno_text is None:
        return None
    if not (levelno_text.isdigit() and levelno_text.isascii() and len(levelno_text) < 19):
        return None
    levelno = int(levelno_text)
    try:
        created = float(created_text)
    except ValueError:
        return None
    if not (levelno <= 1000 and 0 <= created < 1e11):  # also refuses NaN
        return None
    try:
        data_text = _DUMPS(data).decode("utf-8")
    except TypeError:
        return None
    return (
        uuid,
        int(created * 1_000_000),
        levelno,
        columns.get("logger_name", "")[:MAX_SHORT],
        form_message(fields)[:MAX_STRING],
        _short(columns.get("host")),
        _short(columns.get("service")),
        _short(columns.get("request_id")),
        _short(columns.get("trace_id")),
        _short(columns.get("span_id")),
        _short(columns.get("parent_span_id")),
        _short(columns.get("task_id")),
        _short(columns.get("kind")),
        data_text,
    )
