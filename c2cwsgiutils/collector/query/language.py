"""The collector's filter language: a hand-written tokenizer and recursive-descent parser.

Grammar (keywords are case-insensitive; ``AND`` binds tighter than ``OR``; ``NOT`` tighter still)::

    query      := or_expr EOF
    or_expr    := and_expr ("OR" and_expr)*
    and_expr   := not_expr ("AND" not_expr)*
    not_expr   := "NOT" not_expr | "(" or_expr ")" | comparison
    comparison := field operator value | field "IS" ["NOT"] ("NULL" | "MISSING")
    field      := level | time | id | message | name | host | service | request_id | trace_id
                | span_id | parent_span_id | task_id | kind | uuid | "data." step ("." step)*
    step       := key ("[" index "]")*
    operator   := "=" | "!=" | "<" | "<=" | ">" | ">=" | "~" (contains) | "~*" (contains, ASCII
                  case-insensitive) | ":" (starts with)
    value      := "double-quoted" | 'single-quoted' | number | bare-word

Example: ``data.user_id = 42 AND level >= WARNING AND message ~ "timeout" AND NOT name:celery``;
``data.tags[0] = "x"`` (the first item of a JSON array); ``data.user IS NULL`` (present, JSON
null), ``data.user IS MISSING`` (absent), where ``data.user = null`` is either (issue #24).

``IS [NOT] NULL`` and ``IS [NOT] MISSING`` become a :class:`Compare` whose operator is
``IS NULL`` or ``IS MISSING`` (value None), under a :class:`Not` for ``IS NOT``: the AST stays
the one input of every backend's compiler.

The parser produces a small AST; :mod:`c2cwsgiutils.collector.query.filters` turns it into a
SQLAlchemy expression where every value is a bound parameter. Any error raises
:class:`QuerySyntaxError` carrying the 0-based character position of the offending token.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "IS_OPERATORS",
    "MAX_DEPTH",
    "MAX_LENGTH",
    "And",
    "Compare",
    "Node",
    "Not",
    "Or",
    "QuerySyntaxError",
    "parse",
]

MAX_LENGTH = 4000
MAX_DEPTH = 32
MAX_COMPARISONS = 100

OPERATORS = ("!=", "<=", ">=", "=", "<", ">", "~*", "~", ":")
IS_OPERATORS = ("IS NULL", "IS MISSING")
_BARE_START = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_BARE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.+[]")
_NUMBER = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?\Z")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'"}


class QuerySyntaxError(ValueError):
    """A query that cannot be parsed or translated; ``position`` is a 0-based character offset."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"{message} (at position {position})")
        self.reason = message
        self.position = position


@dataclass(frozen=True)
class Token:
    """One lexical token: ``kind`` is STRING, NUMBER, WORD, OP, LPAREN, RPAREN or EOF."""

    kind: str
    text: str
    position: int


@dataclass(frozen=True)
class Compare:
    """``field operator value``; ``value`` is a str, a float/int, a bool or None (``null``)."""

    field: str
    operator: str
    value: str | int | float | bool | None
    position: int
    value_position: int
    quoted: bool
    text: str = ""  # the value as written (a text column compares "1e3" as written, not as 1000.0)


@dataclass(frozen=True)
class Not:
    """Negation of ``operand``."""

    operand: Node


@dataclass(frozen=True)
class And:
    """Conjunction of ``operands``."""

    operands: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    """Disjunction of ``operands``."""

    operands: tuple[Node, ...]


Node = Compare | Not | And | Or


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens; raises :class:`QuerySyntaxError` on an unexpected character."""
    tokens: list[Token] = []
    i, length = 0, len(text)
    while i < length:
        char = text[i]
        if char in " \t\r\n":
            i += 1
        elif char == "(":
            tokens.append(Token("LPAREN", char, i))
            i += 1
        elif char == ")":
            tokens.append(Token("RPAREN", char, i))
            i += 1
        elif char in "\"'":
            value, end = _read_string(text, i)
            tokens.append(Token("STRING", value, i))
            i = end
        elif char in _BARE_START:
            start = i
            while i < length and text[i] in _BARE:
                i += 1
            word = text[start:i]
            tokens.append(Token("NUMBER" if _NUMBER.match(word) else "WORD", word, start))
        else:
            for operator in OPERATORS:
                if text.startswith(operator, i):
                    tokens.append(Token("OP", operator, i))
                    i += len(operator)
                    break
            else:
                raise QuerySyntaxError(f"unexpected character {char!r}", i)
    tokens.append(Token("EOF", "", length))
    return tokens


def _read_string(text: str, start: int) -> tuple[str, int]:
    quote = text[start]
    parts: list[str] = []
    i = start + 1
    while i < len(text):
        char = text[i]
        if char == quote:
            return "".join(parts), i + 1
        if char == "\\":
            if i + 1 >= len(text):
                break
            escaped = text[i + 1]
            if escaped not in _ESCAPES:
                raise QuerySyntaxError(f"unknown escape sequence \\{escaped}", i)
            parts.append(_ESCAPES[escaped])
            i += 2
            continue
        if char == "\x00":
            raise QuerySyntaxError("NUL character in a string", i)
        parts.append(char)
        i += 1
    raise QuerySyntaxError("unterminated string", start)


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.index = 0
        self.comparisons = 0

    def peek(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        if token.kind != "EOF":
            self.index += 1
        return token

    def keyword(self, word: str) -> bool:
        token = self.peek()
        if token.kind == "WORD" and token.text.upper() == word:
            self.advance()
            return True
        return False

    def query(self) -> Node:
        node = self.or_expr(0)
        token = self.peek()
        if token.kind != "EOF":
            raise QuerySyntaxError(
                f"expected AND, OR or the end of the query, got {token.text!r}", token.position
            )
        return node

    def or_expr(self, depth: int) -> Node:
        operands = [self.and_expr(depth)]
        while self.keyword("OR"):
            operands.append(self.and_expr(depth))
        return operands[0] if len(operands) == 1 else Or(tuple(operands))

    def and_expr(self, depth: int) -> Node:
        operands = [self.not_expr(depth)]
        while self.keyword("AND"):
            operands.append(self.not_expr(depth))
        return operands[0] if len(operands) == 1 else And(tuple(operands))

    def not_expr(self, depth: int) -> Node:
        token = self.peek()
        if depth >= MAX_DEPTH:
            raise QuerySyntaxError(f"nested deeper than {MAX_DEPTH} levels", token.position)
        if self.keyword("NOT"):
            return Not(self.not_expr(depth + 1))
        if token.kind == "LPAREN":
            self.advance()
            node = self.or_expr(depth + 1)
            closing = self.advance()
            if closing.kind != "RPAREN":
                raise QuerySyntaxError(f"expected ')', got {closing.text or 'the end'!r}", closing.position)
            return node
        return self.comparison()

    def comparison(self) -> Compare | Not:
        field = self.advance()
        if field.kind != "WORD" or field.text.upper() in ("AND", "OR", "NOT", "IS"):
            raise QuerySyntaxError(f"expected a field name, got {field.text or 'the end'!r}", field.position)
        if self.keyword("IS"):
            return self.is_test(field)
        operator = self.advance()
        if operator.kind != "OP":
            raise QuerySyntaxError(
                f"expected an operator (= != < <= > >= ~ ~* : IS) after {field.text!r}, "
                f"got {operator.text or 'the end'!r}",
                operator.position,
            )
        value = self.advance()
        self.comparisons += 1
        if self.comparisons > MAX_COMPARISONS:
            raise QuerySyntaxError(f"more than {MAX_COMPARISONS} comparisons", field.position)
        parsed: str | int | float | bool | None
        if value.kind == "STRING":
            parsed = value.text
        elif value.kind == "NUMBER":
            parsed = _number(value)
        elif value.kind == "WORD":
            lowered = value.text.lower()
            parsed = {"true": True, "false": False, "null": None}.get(lowered, value.text)
        else:
            raise QuerySyntaxError(f"expected a value, got {value.text or 'the end'!r}", value.position)
        return Compare(
            field.text,
            operator.text,
            parsed,
            field.position,
            value.position,
            value.kind == "STRING",
            value.text,
        )

    def is_test(self, field: Token) -> Compare | Not:
        negated = self.keyword("NOT")
        word = self.advance()
        what = word.text.upper() if word.kind == "WORD" else ""
        if what not in ("NULL", "MISSING"):
            raise QuerySyntaxError(
                f"expected NULL or MISSING after IS, got {word.text or 'the end'!r}", word.position
            )
        self.comparisons += 1
        if self.comparisons > MAX_COMPARISONS:
            raise QuerySyntaxError(f"more than {MAX_COMPARISONS} comparisons", field.position)
        node = Compare(field.text, f"IS {what}", None, field.position, word.position, False, word.text)
        return Not(node) if negated else node


def _number(token: Token) -> int | float | str:
    text = token.text
    if re.fullmatch(r"-?\d{1,18}", text):
        return int(text)
    try:
        value = float(text)
    except ValueError:
        raise QuerySyntaxError(f"invalid number {text!r}", token.position) from None
    if value in (float("inf"), float("-inf")):
        return text  # not a usable number: a word (e.g. an id such as 123e4567)
    return value


def parse(text: str) -> Node:
    """Parse ``text`` into an AST; raises :class:`QuerySyntaxError` with the position of the error."""
    if len(text) > MAX_LENGTH:
        raise QuerySyntaxError(f"query longer than {MAX_LENGTH} characters", MAX_LENGTH)
    tokens = tokenize(text)
    if tokens[0].kind == "EOF":
        raise QuerySyntaxError("empty query", 0)
    return _Parser(tokens).query()
