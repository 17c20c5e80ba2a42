"""The sqlcommenter format (https://google.github.io/sqlcommenter/spec/): write, detect and read back.

- :func:`serialize` builds ``/*key='value',...*/``: keys and values URL-encoded as JavaScript's
  ``encodeURIComponent`` does (so ``*`` and ``'`` stay, as in the specification's examples), a
  ``'`` then escaped as ``\\'``, values single-quoted, pairs sorted. ``/`` is always encoded, so
  no value can open or close a comment.
- :func:`add_comment` affixes it, unless the statement already holds a comment. Comments are
  found by a small SQL lexer that skips string literals (``'...'``, ``E'...'``, dollar-quoted),
  quoted identifiers and nested ``/* */``: ``SELECT '--x'`` holds no comment.
- :func:`parse_comment` reads back the last comment of a statement, as the specification says,
  and only a real one: a ``/*...*/`` inside a string literal, such as a parameter that psycopg2
  interpolated into the text ``pg_stat_activity`` shows, is never read.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from urllib.parse import quote, unquote

__all__ = ["add_comment", "comments", "has_comment", "parse_comment", "serialize"]

# What encodeURIComponent leaves as is, besides letters, digits and "-_.~" (quote() keeps those).
_SAFE = "!*'()"


def _encode(value: str) -> str:
    return quote(value, safe=_SAFE).replace("'", "\\'")


def serialize(fields: Mapping[str, str]) -> str:
    """The sqlcommenter comment of ``fields`` (empty values left out; "" when none is left)."""
    pairs = sorted(f"{_encode(key)}='{_encode(value)}'" for key, value in fields.items() if value)
    return f"/*{','.join(pairs)}*/" if pairs else ""


# ---- the lexer ---------------------------------------------------------------------------------

# What may start a literal, a quoted identifier or a comment.
_SPECIAL = re.compile(r"""'|"|\$|--|/\*""")
_IDENTIFIER_CHAR = re.compile(r"[A-Za-z0-9_$\x80-\U0010ffff]")
_STRING_END = re.compile(r"(?:[^']|'')*'")
_ESCAPE_STRING_END = re.compile(r"(?:[^'\\]|''|\\.)*'", re.S)
_IDENTIFIER_END = re.compile(r'(?:[^"]|"")*"')
_DOLLAR_TAG = re.compile(r"\$(?:[A-Za-z_\x80-\U0010ffff][A-Za-z0-9_\x80-\U0010ffff]*)?\$")
_BLOCK_TOKEN = re.compile(r"/\*|\*/")


def comments(sql: str) -> Iterator[tuple[int, int, bool]]:
    """``(start, end, closed)`` for each comment of ``sql`` (PostgreSQL's lexical rules), in order.

    ``--`` comments run to the end of the line; ``/* */`` comments nest, and one not closed
    (``closed`` false) runs to the end. An unterminated literal ends the scan (a cut statement).
    """
    position = 0
    length = len(sql)
    while position < length:
        match = _SPECIAL.search(sql, position)
        if match is None:
            return
        start = match.start()
        opening = match.group()
        before = sql[start - 1] if start else ""
        if opening == "'":
            escaped = (
                before != "" and before in "eE" and (start < 2 or not _IDENTIFIER_CHAR.match(sql[start - 2]))
            )
            end = (_ESCAPE_STRING_END if escaped else _STRING_END).match(sql, start + 1)
            if end is None:
                return
            position = end.end()
        elif opening == '"':
            end = _IDENTIFIER_END.match(sql, start + 1)
            if end is None:
                return
            position = end.end()
        elif opening == "$":
            tag = None if before and _IDENTIFIER_CHAR.match(before) else _DOLLAR_TAG.match(sql, start)
            if tag is None:  # $1, or a $ inside an identifier
                position = start + 1
                continue
            close = sql.find(tag.group(), tag.end())
            if close < 0:
                return
            position = close + len(tag.group())
        elif opening == "--":
            newline = sql.find("\n", start)
            position = length if newline < 0 else newline + 1
            yield start, position, True
        else:
            end_of_block = _block_end(sql, start)
            position = length if end_of_block < 0 else end_of_block
            yield start, position, end_of_block >= 0


def _block_end(sql: str, start: int) -> int:
    """The end of the block comment starting at ``start`` (-1 when it is not closed)."""
    depth = 0
    for token in _BLOCK_TOKEN.finditer(sql, start):
        depth += 1 if token.group() == "/*" else -1
        if depth == 0:
            return token.end()
    return -1


def has_comment(sql: str) -> bool:
    """Whether ``sql`` holds a comment (outside its literals and quoted identifiers)."""
    if "--" not in sql and "/*" not in sql:
        return False
    return next(comments(sql), None) is not None


# ---- writing -----------------------------------------------------------------------------------

_BLANK = " \t\r\n;"


def add_comment(statement: str, comment: str, position: str = "start") -> str:
    """``statement`` with ``comment`` added at its ``start`` or ``end`` (before a final ``;``).

    Unchanged when ``comment`` or ``statement`` is blank, or when the statement holds a comment
    already (as the specification asks).
    """
    if not comment or not statement.strip(_BLANK) or has_comment(statement):
        return statement
    if position == "start":
        return comment + " " + statement
    stripped = statement.rstrip()
    if stripped.endswith(";"):
        return stripped[:-1] + " " + comment + ";"
    return statement + " " + comment


# ---- reading -----------------------------------------------------------------------------------

_PAIR = r"([^=,'\s]+)='((?:[^'\\]|\\.)*)'"
_PAIR_RE = re.compile(_PAIR, re.S)
_BODY_RE = re.compile(rf"\s*{_PAIR}(?:\s*,\s*{_PAIR})*\s*", re.S)


def _decode(value: str) -> str:
    return unquote(value.replace("\\'", "'"))


def parse_comment(sql: str | None) -> dict[str, str]:
    """The key/values of the last comment of ``sql`` ({} when it is not a sqlcommenter one).

    Only a complete ``/* */`` comment outside literals counts; its whole body must be
    ``key='value'`` pairs separated by commas.
    """
    if not sql or "/*" not in sql:
        return {}
    last = None
    for start, end, closed in comments(sql):
        if sql.startswith("/*", start):
            last = (start, end, closed)
    if last is None or not last[2]:
        return {}
    body = sql[last[0] + 2 : last[1] - 2]
    if _BODY_RE.fullmatch(body) is None:
        return {}
    return {_decode(key): _decode(value) for key, value in _PAIR_RE.findall(body)}
