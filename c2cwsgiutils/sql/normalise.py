"""The one SQL statement normaliser: what the profiler, the SQL metrics and the SQL spans call a statement.

Two runs of the same statement with other values give the same text, so that the profiler explains
a SELECT once, a metric name stays bounded, and the request view sees the same statement repeated
(N+1 queries)::

    >>> normalise("SELECT * FROM t /* x */ WHERE id IN (1, 2, 3) AND name = E'it\\\\'s' AND x::int > 1e5")
    'SELECT * FROM t WHERE id IN (?) AND name = ? AND x::int > ?'

One pass over the statement, token by token (so that nothing inside a string, a quoted identifier or
a comment is mistaken for something else):

- comments (``/* ... */``, ``-- ...``) are removed (the request-ID comments of the tagging too);
- string literals (``'...'`` with ``''``, ``E'...'`` with backslash escapes, ``B''``, ``X''``, ``N''``,
  ``U&''``, dollar-quoted ``$$...$$`` / ``$tag$...$tag$``, an unterminated one up to the end) become ``?``;
- bind parameters (``%(name)s``, ``%s``, ``$1``, ``:name``, ``?``) become ``?``; casts (``x::int``) stay;
- numbers (``42``, ``-1``, ``1.5``, ``.5``, ``1e5``, ``2.5E-3``) become ``?``; digits inside names
  (``t2``, ``"col 1"``) stay;
- whitespace is collapsed; then lists of placeholders ``(?, ?, ?)`` / ``[?, ?]`` become ``(?)`` /
  ``[?]`` and rows of a multi-row ``VALUES (?), (?), (?)`` one ``(?)``.

:func:`shortened` bounds a normalised text (metric names) with a short hash of the whole.
"""

from __future__ import annotations

import functools
import hashlib
import re

__all__ = ["normalise", "shortened"]

_TOKENS = re.compile(
    r"""
    (?P<comment>/\*.*?(?:\*/|\Z)|--[^\n]*)
    |(?P<ident>"(?:[^"]|"")*(?:"|\Z))
    |(?P<string>
        (?<![\w$])[Ee]'(?:[^'\\]|\\.|'')*(?:'|\Z)
        |(?:(?<![\w$])(?:[BbXxNn]|[Uu]&))?'(?:[^']|'')*(?:'|\Z)
        |\$(?P<tag>[A-Za-z_]\w*|)\$.*?(?:\$(?P=tag)\$|\Z)
    )
    |(?P<param>%\(\w+\)s|%s|\$\d+|(?<![:\w]):[A-Za-z_]\w*|\?)
    |(?P<number>(?<![\w$.])(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![\w.]))
    """,
    re.S | re.X,
)
_SPACES = re.compile(r"\s+")
# A sign right after "(", ",", "=", "<" or ">" belongs to the number: "IN (-1, 2)" is a list.
_SIGNED = re.compile(r"(?<=[(,=<>])( ?)[-+]\?")
_LIST = re.compile(r"\(\s*\?(?:\s*,\s*\?)*\s*\)")
_ARRAY = re.compile(r"\[\s*\?(?:\s*,\s*\?)*\s*\]")
_ROWS = re.compile(r"\(\?\)(?:\s*,\s*\(\?\))+")


def _token(match: re.Match[str]) -> str:
    kind = match.lastgroup
    if kind == "comment":
        return " "
    if kind == "ident":
        return match.group()
    return "?"


@functools.lru_cache(maxsize=2048)
def normalise(statement: str) -> str:
    """The statement with comments removed and literals, parameters and lists collapsed to ``?``.

    Cached: SQLAlchemy hands the same statement string again and again.
    """
    text = _TOKENS.sub(_token, statement)
    text = _SPACES.sub(" ", text).strip()
    text = _SIGNED.sub(r"\1?", text)
    text = _LIST.sub("(?)", text)
    text = _ARRAY.sub("[?]", text)
    return _ROWS.sub("(?)", text)


def shortened(text: str, max_length: int) -> str:
    """``text`` when it has at most ``max_length`` characters, else its start, ``...`` and a short hash."""
    if len(text) <= max_length:
        return text
    digest = hashlib.blake2s(text.encode("utf-8"), digest_size=3).hexdigest()
    return f"{text[:max_length]}...{digest}"
