"""The row of a usual ``HTTPHandler`` form in one pass: the collector's single-record hot path.

Compiled with mypyc when the package is built with a C compiler (see setup.py and
:mod:`c2cwsgiutils._compiled`); the same file runs as plain Python otherwise. :func:`usual_row`
gives exactly the row that :func:`c2cwsgiutils.collector.intake.ingest.parse_form_body` gives (the
reference, a test compares both on random forms) for the forms that ``logging.handlers.
HTTPHandler`` sends: fields read as ``urllib.parse.parse_qsl`` reads them, no NUL, ``msg``,
``name`` and ``levelno`` present, no user extra named like a field of the schema (those go to
``c2c_extra``, see ``FORM_COLLIDING``), the typed fields plain numbers, ``created`` and
``levelno`` in range. Anything else gives ``None`` and goes the general way, which converts it or
names the error. It skips the general path's list of pairs, its intermediate record and the copy
of it. A user's extra field is typed back from its Python literal (:func:`extra_value`) on both
paths alike.
"""

from __future__ import annotations

import ast
import math
import re
from typing import Any, Final
from urllib.parse import unquote

import orjson

from c2cwsgiutils.collector.intake.percent_decoding import SLICE, unquote_in_slices
from c2cwsgiutils.collector.wire import (
    C2C_UUID,
    CORRELATION_COLUMNS,
    FLOATS,
    FORM_COLLIDING,
    FORM_FIELDS,
    INTS,
    MAX_FORM_FIELDS,
    MAX_SHORT,
    MAX_STRING,
    NOT_DATA,
    RENAMES,
)

# wire.RENAMES as a constant of this module: compiled, it is read without a lookup of the name in
# the module's dict on every field (an imported name's cost).
_RENAME_TABLE: Final[dict[str, str]] = RENAMES
MAX_LITERAL: Final = 4096  # longer extra values stay text
MAX_LITERALS: Final = 100  # literal_eval() calls per form; values past that stay text
_LITERAL_START: Final = frozenset("0123456789-+.([{'\"")
HEX: Final = frozenset("0123456789abcdefABCDEF")
# "%XX" -> its character, for the escapes of ASCII characters (either case of hex digit).
ASCII_ESCAPES: Final[dict[str, str]] = {
    f"{high}{low}": chr(int(f"{high}{low}", 16)) for high in "01234567" for low in "0123456789abcdefABCDEF"
}
# "%XX" -> its character, as ASCII_ESCAPES, but keyed by the whole escape.
ESCAPES: Final[dict[str, str]] = {"%" + escape: char for escape, char in ASCII_ESCAPES.items()}
ONE_INT: Final = re.compile(r"\((-?\d{1,18}),\)\Z")
ONE_STR: Final = re.compile(r"\('([^'\\]*)',\)\Z")
_DUMPS: Final[Any] = orjson.dumps


def _unquote(text: str) -> str:
    """``unquote(text)``, as parse_qsl does for each name and value (after replacing "+")."""
    if "%" not in text:
        return text
    if len(text) > SLICE:  # no split of it all into small strings (issue #18): decoded in slices
        return unquote_in_slices(text)
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


# What usual_row() does with a field, by its name (one dict lookup per field); a name that is not
# there is a user's extra field. Made from the constants above.
_PLAIN: Final = 0  # data[name] = value (a text field of the record's own)
_RENAMED: Final = 1  # data[RENAMES[name]] = value
_INT: Final = 2  # data[RENAMES.get(name, name)] = int(value)
_FLOAT: Final = 3  # data[name] = float(value)
_DROPPED: Final = 4  # a field that the row does not keep (levelname)
_MSG: Final = 5
_MESSAGE: Final = 6
_ARGS: Final = 7  # a plain field that the message also reads
_DECLINED: Final = 8  # a user's extra whose name the schema takes: the general path places it
_EXTRA: Final = 9  # a user's extra: data[name] = extra_value(value)
_COLUMN: Final = 16  # _COLUMN + i: the value of _COLUMNS[i]
_COLUMNS: Final = (C2C_UUID, "created", "levelno", "logger_name", *CORRELATION_COLUMNS)


def _kinds() -> dict[str, int]:
    kinds: dict[str, int] = dict.fromkeys(FORM_COLLIDING, _DECLINED)
    for name in FORM_FIELDS:
        target = RENAMES.get(name, name)
        if target in _COLUMNS:
            kinds[name] = _COLUMN + _COLUMNS.index(target)
        elif name == "msg":
            kinds[name] = _MSG
        elif name == "message":
            kinds[name] = _MESSAGE
        elif target in NOT_DATA:
            kinds[name] = _DROPPED
        elif target in INTS:
            kinds[name] = _INT
        elif target in FLOATS:
            kinds[name] = _FLOAT
        elif name == "args":
            kinds[name] = _ARGS
        elif target != name:
            kinds[name] = _RENAMED
        else:
            kinds[name] = _PLAIN
    return kinds


_KINDS: Final[dict[str, int]] = _kinds()


def _unquote_whole(text: str) -> str | None:
    """``_unquote(text)`` for the whole form; ``None`` when an escape makes a separator ("&" or
    "=") or is not that of an ASCII character: the fields must then be unquoted one by one."""
    out: list[str] = []
    last = 0
    start = text.find("%")
    while start >= 0:
        char = ESCAPES.get(text[start : start + 3])
        if char is None or char in ("&", "="):
            return None  # a multi-byte UTF-8 sequence, a malformed escape, a separator
        out.append(text[last:start])
        out.append(char)
        last = start + 3
        start = text.find("%", last)
    out.append(text[last:])
    return "".join(out)


def _pairs(text: str, whole: bool) -> list[str] | None:
    """Names and values, alternately, as parse_qsl reads them (``None`` past MAX_FORM_FIELDS);
    ``whole``: the text is unquoted already."""
    fields = text.split("&")
    if len(fields) > MAX_FORM_FIELDS:
        return None
    pairs = []
    for field in fields:
        if not field:
            continue
        equal = field.find("=")
        if equal < 0:
            name, value = field, ""
        else:
            name, value = field[:equal], field[equal + 1 :]
        if not whole and "%" in field:
            name = _unquote(name)
            value = _unquote(value)
        pairs.append(name)
        pairs.append(value)
    return pairs


def _literal(text: str) -> Any:
    # The usual one-argument cases without compiling Python source (literal_eval costs ~50 µs),
    # the commonest, "(7,)", without a regular expression either.
    if text.startswith("(") and text.endswith(",)"):
        inner = text[1:-2]
        digits = inner[1:] if inner.startswith("-") else inner
        if 0 < len(digits) <= 18 and digits.isascii() and digits.isdigit():
            return (int(inner),)
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


_NOT_JSON: Final[Any] = object()


def _json_key(key: Any) -> str | None:
    """A dict key as ``json.dumps`` writes it (Chronologer stores its literals so), or None."""
    if isinstance(key, str):
        return key
    if key is None:
        return "null"
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, int):
        return str(key)
    if isinstance(key, float) and math.isfinite(key):
        return repr(key)
    return None


def _json_value(value: Any, depth: int) -> Any:
    """A literal as the JSON value ``json.dumps`` makes of it (tuples as lists, keys as text), or
    ``_NOT_JSON``: a set, bytes, complex, non-finite float, an unusual key."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else _NOT_JSON
    if depth >= 64:
        return _NOT_JSON
    if isinstance(value, (list, tuple)):
        items = []
        for item in value:
            converted = _json_value(item, depth + 1)
            if converted is _NOT_JSON:
                return _NOT_JSON
            items.append(converted)
        return items
    if isinstance(value, dict):
        result: dict[str, Any] = {}
        for key, item in value.items():
            text = _json_key(key)
            converted = _json_value(item, depth + 1)
            if text is None or converted is _NOT_JSON or text in result:
                return _NOT_JSON
            result[text] = converted
        return result
    return _NOT_JSON


def extra_value(text: str, budget: list[int]) -> Any:
    """The value of a user's extra field of a form, typed as Chronologer restores it.

    ``str(value)`` of a Python literal (``7``, ``1.5``, ``True``, ``None``, a list, dict or tuple
    of literals) gives the literal back (``ast.literal_eval``) as the JSON value ``json.dumps`` makes
    of it (tuples as lists, ``{1: 2}`` as ``{"1": 2}``, as Chronologer stores it); any other
    text, a quoted string included, stays the text. ``budget[0]``: the ``literal_eval`` calls left
    for the form (decremented; at 0, or past ``MAX_LITERAL`` characters, the text stays text).
    """
    if not text:
        return text
    first = text[0]
    if first not in _LITERAL_START:
        if text == "None":
            return None
        if text == "True":
            return True
        if text == "False":
            return False
        return text
    digits = text[1:] if first == "-" else text
    plain = 0 < len(digits) <= 18 and digits.isascii() and digits.isdigit()
    if plain and (digits[0] != "0" or digits == "0"):  # no leading zero: what literal_eval reads
        return int(text)
    if len(text) > MAX_LITERAL or budget[0] <= 0:
        return text
    budget[0] -= 1
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text
    if isinstance(value, str):
        return text
    converted = _json_value(value, 0)
    return text if converted is _NOT_JSON else converted


def form_message(fields: dict[str, str]) -> str:
    """The message of an HTTPHandler form: ``msg % args`` when the args parse and fit, else ``msg``."""
    return _message(fields.get("msg", ""), fields.get("args", "None"), fields.get("message"))


def _message(msg: str, args: str, message: str | None) -> str:
    if message is not None:
        return message
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
    # On the text: ``bytes in bytes`` first tries its argument as an integer (and raises).
    if "\x00" in text or "%00" in text:
        return None
    if "+" in text:  # parse_qsl replaces it in each name and value, before unquoting
        text = text.replace("+", " ")
    # Each escape decodes to the same characters whether the text is unquoted whole or field by
    # field (see ingest.form_fields): whole, unless an escape makes a separator.
    whole = True
    if "%" in text:
        unquoted = _unquote_whole(text)
        if unquoted is None:
            whole = False
        else:
            text = unquoted
    all_ascii = whole and text.isascii()  # then so is every value
    pairs = _pairs(text, whole)
    if pairs is None:
        return None
    # One pass, no dict of the fields: a repeated name (the last value wins, at the place of the
    # first) is left to the general path. Found by the growth of ``data``, the slot of a column
    # already taken and, for the names whose value is "None" (skipped), a last check.
    data: dict[str, Any] = {}
    columns: list[str | None] = [None] * len(_COLUMNS)
    skipped: list[str] = []
    msg: str | None = None
    args: str | None = None
    message: str | None = None
    budget = [MAX_LITERALS]
    for index in range(0, len(pairs), 2):
        name = pairs[index]
        value = pairs[index + 1]
        kind = _KINDS.get(name, _EXTRA)
        if kind == _EXTRA:
            size = len(data)
            data[name] = extra_value(value, budget)
            if len(data) == size:
                return None
            continue
        if kind >= _COLUMN:
            if columns[kind - _COLUMN] is not None:
                return None
            if value != "None":
                columns[kind - _COLUMN] = value
            continue
        if kind == _DROPPED:
            continue
        if kind == _DECLINED:
            return None
        if kind in (_MSG, _MESSAGE, _ARGS):
            if kind == _MSG:
                if msg is not None:
                    return None
                msg = value
                continue
            if kind == _MESSAGE:
                if message is not None:
                    return None
                message = value
                continue
            if args is not None:
                return None
            args = value
            if value != "None":  # typed as Chronologer restores it: "(8, 'a')" -> [8, "a"]
                size = len(data)
                data[name] = extra_value(value, budget)
                if len(data) == size:
                    return None
                continue
        target = _RENAME_TABLE.get(name, name) if kind in (_RENAMED, _INT) else name
        if value == "None":
            if target in data:
                return None
            skipped.append(target)
            continue
        size = len(data)
        if kind == _INT:
            if not (value.isdigit() and len(value) < 19 and (all_ascii or value.isascii())):
                return None
            data[target] = int(value)
        elif kind == _FLOAT:
            try:
                number = float(value)
            except ValueError:
                return None
            if not math.isfinite(number):
                return None
            data[target] = number
        else:
            data[target] = value
        if len(data) == size:
            return None
    for target in skipped:
        if target in data:
            return None
    uuid = columns[0]
    if uuid is not None:
        if len(uuid) != 32 or not HEX.issuperset(uuid):
            return None
        uuid = uuid.lower()
    created_text = columns[1]
    levelno_text = columns[2]
    if created_text is None or levelno_text is None or msg is None or columns[3] is None:
        return None  # the general path names what is missing
    if not (levelno_text.isdigit() and len(levelno_text) < 19 and (all_ascii or levelno_text.isascii())):
        return None
    levelno = int(levelno_text)
    try:
        created = float(created_text)
    except ValueError:
        return None
    if not (levelno <= 1000 and 0 <= created < 1e11):  # also refuses NaN
        return None
    text = _message("" if msg is None else msg, "None" if args is None else args, message)
    if msg != text:
        # The template of a formatted message (Chronologer's ``meta.msg``), as ingest.record_to_row
        # keeps it; a user's extra "msg" would have been declined.
        if "msg" in data:
            return None
        data["msg"] = msg
    try:
        data_text = _DUMPS(data).decode("utf-8")
    except TypeError:
        return None
    logger_name = columns[3]
    return (
        uuid,
        int(created) * 1_000_000 + round((created - int(created)) * 1_000_000),  # wire.time_us
        levelno,
        "" if logger_name is None else logger_name[:MAX_SHORT],
        text[:MAX_STRING],
        _short(columns[4]),
        _short(columns[5]),
        _short(columns[6]),
        _short(columns[7]),
        _short(columns[8]),
        _short(columns[9]),
        _short(columns[10]),
        _short(columns[11]),
        data_text,
    )
