"""Filters of the query API as SQLAlchemy expressions, identical on SQLite, PostgreSQL and ClickHouse.

The ``query`` AST (see :mod:`query_language`) and the plain parameters (``after``, ``before``,
``level``, ``name``, ``request_id``, ``trace_id``) become one boolean expression. Every user
value is a bound parameter. Operators whose SQL differs between backends (substring, prefix,
JSON access, text ordering) are written per dialect so that both return the same rows:

- ``~`` is a case-sensitive substring test (``instr`` / ``strpos``), ``:`` a prefix test
  (``substr(x, 1, n) = prefix``): no ``LIKE``, whose case rules differ between the two. ``~*`` is
  ``~`` with ASCII letters folded on both sides (``lower`` / ``translate``: the same on both).
- ``data.a.b`` compares by the type of the literal: a number only matches JSON numbers, a string
  only JSON strings, ``true``/``false`` only JSON booleans, ``null`` an absent key or JSON null;
  ``IS NULL`` only JSON null, ``IS MISSING`` only an absent key. ``data.tags[0]`` is the first
  item of an array (``$."tags"[0]`` / ``jsonb_extract_path(data, 'tags', '0')``).
- text ordering uses the "C" collation on PostgreSQL (byte order, as SQLite does).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from c2cwsgiutils.collector.limits import MAX_NAME_PREFIXES
from c2cwsgiutils.collector.query.language import (
    IS_OPERATORS,
    And,
    Compare,
    Node,
    Not,
    Or,
    QuerySyntaxError,
    parse,
)
from c2cwsgiutils.collector.storage.schema import record_table

__all__ = ["LEVEL_NAMES", "FilterError", "build_filter", "parse_level", "parse_time_us", "query_to_sql"]

LEVEL_NAMES = {
    "NOTSET": 0,
    "DEBUG": logging.DEBUG,
    "INFO": logging.INFO,
    "WARN": logging.WARNING,
    "WARNING": logging.WARNING,
    "ERROR": logging.ERROR,
    "CRITICAL": logging.CRITICAL,
    "FATAL": logging.CRITICAL,
}
TEXT_COLUMNS = {
    "message": "message",
    "msg": "message",
    "name": "logger_name",
    "logger": "logger_name",
    "logger_name": "logger_name",
    "host": "host",
    "service": "service",
    "request_id": "request_id",
    "trace_id": "trace_id",
    "span_id": "span_id",
    "parent_span_id": "parent_span_id",
    "task_id": "task_id",
    "kind": "kind",
    "uuid": "uuid",
}
# One step of a JSON path: a key and its array indexes (``tags[0]``, ``matrix[1][2]``).
_STEP = re.compile(r"([A-Za-z0-9_\-]{1,100})((?:\[[0-9]{1,9}\])*)\Z")
_INDEX = re.compile(r"\[([0-9]+)\]")
_MAX_INT = 2**62
_COMPARE = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


class FilterError(ValueError):
    """An invalid filter parameter; ``parameter`` names it."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(f"{parameter}: {message}")
        self.parameter = parameter


def parse_time_us(value: str | float) -> int:
    """Microseconds since the epoch of an ISO 8601 string (naive means UTC) or a POSIX number."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        text = str(value).strip()
        try:
            seconds = float(text)
        except ValueError:
            try:
                moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
            except ValueError:
                raise ValueError(f"not an ISO 8601 time: {text[:40]!r}") from None
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=timezone.utc)
            seconds = moment.timestamp()
    if not -1e11 < seconds < 1e11:
        raise ValueError("time out of range")
    return round(seconds * 1_000_000)


def parse_level(value: str | float) -> int:
    """A Python level number from a number or a level name (``WARNING``)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = int(value)
    else:
        text = str(value).strip()
        if text.upper() in LEVEL_NAMES:
            return LEVEL_NAMES[text.upper()]
        try:
            number = int(text)
        except ValueError:
            raise ValueError(
                f"not a level: {text[:40]!r} (a number or one of {', '.join(LEVEL_NAMES)})"
            ) from None
    if not 0 <= number <= 1000:
        raise ValueError("level out of range 0..1000")
    return number


def _contains(dialect: str, column: Any, value: str) -> ColumnElement[bool]:
    function = sa.func.strpos if dialect == "postgresql" else sa.func.instr
    return function(column, sa.bindparam(None, value, sa.String())) > 0


def _starts_with(column: Any, value: str) -> ColumnElement[bool]:
    return sa.func.substr(column, 1, len(value)) == sa.bindparam(None, value, sa.String())


_ASCII_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_ASCII_LOWER = _ASCII_UPPER.lower()
_TO_ASCII_LOWER = str.maketrans(_ASCII_UPPER, _ASCII_LOWER)


def _name_prefix(dialect: str, column: Any, prefix: str) -> ColumnElement[bool]:
    """``name=`` prefix, case-insensitive as Chronologer's (MySQL's collation) for ASCII letters.

    ASCII only, on every backend alike: SQLite's ``lower()`` folds ASCII alone, so PostgreSQL
    folds with ``translate()`` rather than its locale-aware ``lower()``.
    """
    start = sa.func.substr(column, 1, len(prefix))
    if dialect == "postgresql":
        folded: Any = sa.func.translate(
            start,
            sa.bindparam(None, _ASCII_UPPER, sa.String()),
            sa.bindparam(None, _ASCII_LOWER, sa.String()),
        )
    else:
        folded = sa.func.lower(start)
    return folded == sa.bindparam(None, prefix.translate(_TO_ASCII_LOWER), sa.String())  # type: ignore[no-any-return]


def _ascii_lower(dialect: str, expression: Any) -> Any:
    """``expression`` with ASCII letters in lower case, alike on every backend (see _name_prefix)."""
    if dialect == "postgresql":
        return sa.func.translate(
            expression,
            sa.bindparam(None, _ASCII_UPPER, sa.String()),
            sa.bindparam(None, _ASCII_LOWER, sa.String()),
        )
    return sa.func.lower(expression)


def _text_compare(dialect: str, column: Any, operator: str, value: str) -> ColumnElement[bool]:
    if operator == "~":
        return _contains(dialect, column, value)
    if operator == "~*":
        return _contains(dialect, _ascii_lower(dialect, column), value.translate(_TO_ASCII_LOWER))
    if operator == ":":
        return _starts_with(column, value)
    bound = sa.bindparam(None, value, sa.String())
    if dialect == "postgresql" and operator in ("<", "<=", ">", ">="):
        column = column.collate("C")
    return _COMPARE[operator](column, bound)  # type: ignore[no-any-return]


def _json_path(keys: list[str | int]) -> Any:
    """SQLite's JSON path of ``keys`` (text: an object key, int: an array index), bound."""
    steps = "".join(f"[{key}]" if isinstance(key, int) else f'."{key}"' for key in keys)
    return sa.bindparam(None, "$" + steps, sa.String())


def _json_keys(node: Compare) -> list[str | int]:
    """The steps of ``data.a.tags[0]``: ``["a", "tags", 0]``; raises QuerySyntaxError."""
    keys: list[str | int] = []
    for step in node.field.split(".")[1:]:
        match = _STEP.match(step)
        if match is None:
            raise QuerySyntaxError(f"invalid JSON field {node.field[:60]!r}", node.position)
        keys.append(match.group(1))
        keys.extend(int(index) for index in _INDEX.findall(match.group(2)))
    if not keys:
        raise QuerySyntaxError(f"invalid JSON field {node.field[:60]!r}", node.position)
    return keys


def _json_parts(dialect: str, keys: list[str | int]) -> tuple[Any, Any, Any]:
    """(type name expression, text value expression, number value expression) of a JSON path."""
    data = record_table.c.data
    if dialect == "postgresql":
        # A text path element indexes an array too ('0': its first item).
        params = [sa.bindparam(None, str(key), sa.String()) for key in keys]
        type_name: Any = sa.func.jsonb_typeof(sa.func.jsonb_extract_path(data, *params))
        text = sa.func.jsonb_extract_path_text(data, *params)
        return type_name, text, sa.cast(text, sa.Float())
    if dialect == "clickhouse":
        return _clickhouse_json_parts(keys)
    path = _json_path(keys)
    json_type = sa.func.json_type(data, path)
    # SQLite names: integer, real, text, true, false, null; normalised to PostgreSQL's names.
    type_name = sa.case(
        (json_type.in_(["integer", "real"]), "number"),
        (json_type == "text", "string"),
        (json_type.in_(["true", "false"]), "boolean"),
        else_=json_type,
    )
    extracted = sa.func.json_extract(data, path)
    boolean_text = sa.case((json_type == "true", "true"), (json_type == "false", "false"), else_=extracted)
    return type_name, boolean_text, extracted


def _clickhouse_json_parts(keys: list[str | int]) -> tuple[Any, Any, Any]:
    """ClickHouse's JSON functions on the ``data`` text (an array index is 1-based there).

    ``JSONType`` says ``Null`` for an absent key and a JSON null alike: ``JSONHas`` tells them
    apart, so that the type name is NULL for an absent key, as on the other backends."""
    data = record_table.c.data
    params = [
        sa.bindparam(None, key + 1, sa.Integer())
        if isinstance(key, int)
        else sa.bindparam(None, key, sa.String())
        for key in keys
    ]
    json_type = sa.func.JSONType(data, *params)
    type_name = sa.case(
        (sa.func.JSONHas(data, *params) == 0, sa.null()),
        (json_type.in_(["Int64", "UInt64", "Double"]), "number"),
        (json_type == "String", "string"),
        (json_type == "Bool", "boolean"),
        (json_type == "Null", "null"),
        (json_type == "Array", "array"),
        else_="object",
    )
    # A boolean's raw JSON is its text (true/false), as jsonb_extract_path_text gives it.
    text = sa.case(
        (json_type == "Bool", sa.func.JSONExtractRaw(data, *params)),
        else_=sa.func.JSONExtractString(data, *params),
    )
    return type_name, text, sa.func.JSONExtractFloat(data, *params)


def _sqlite_json_match(node: Compare, path: Any) -> ColumnElement[bool] | None:
    """A JSON comparison on SQLite for a WHERE clause where false and NULL mean the same.

    The exact form (:func:`_json_parts`) asks ``json_type`` first and is NULL for a value of
    another type, so that ``NOT`` keeps it out too; SQLite 3.40 parses the JSON text again at
    each JSON function call. Outside a ``NOT``, "the value compares, and is of the literal's type"
    returns the same rows and, with the comparison first, parses once per row that does not match.
    None: no such form (null compares with the exact one).
    """
    value, operator = node.value, node.operator
    data = record_table.c.data
    json_type = sa.func.json_type(data, path)
    if value is None:
        return None
    if isinstance(value, bool):
        if operator not in ("=", "!="):
            raise QuerySyntaxError("true/false only compare with = or !=", node.value_position)
        return json_type == ("true" if value == (operator == "=") else "false")
    extracted = sa.func.json_extract(data, path)
    if isinstance(value, (int, float)) and operator not in ("~", "~*", ":"):
        number = _COMPARE[operator](extracted, sa.bindparam(None, float(value), sa.Float()))
        return sa.and_(number, json_type.in_(["integer", "real"]))
    text = _text_compare("sqlite", extracted, operator, node.text or str(value))
    return sa.and_(text, json_type == "text")


def _json_compare(dialect: str, node: Compare, negated: bool) -> ColumnElement[bool]:
    keys = _json_keys(node)
    if dialect == "sqlite" and not negated and node.operator not in IS_OPERATORS:
        match = _sqlite_json_match(node, _json_path(keys))
        if match is not None:
            return match
    type_name, text, number = _json_parts(dialect, keys)
    value, operator = node.value, node.operator
    if operator == "IS NULL":  # present and JSON null; never NULL itself, so NOT is exact
        return sa.func.coalesce(type_name, "missing") == "null"
    if operator == "IS MISSING":
        return type_name.is_(None)  # type: ignore[no-any-return]
    if value is None:
        if operator not in ("=", "!="):
            raise QuerySyntaxError("null only compares with = or !=", node.value_position)
        absent = sa.func.coalesce(type_name, "null") == "null"
        return absent if operator == "=" else sa.not_(absent)
    if isinstance(value, bool):
        if operator not in ("=", "!="):
            raise QuerySyntaxError("true/false only compare with = or !=", node.value_position)
        typed = sa.case((type_name == "boolean", text))
        return _COMPARE[operator](typed, "true" if value else "false")  # type: ignore[no-any-return]
    if isinstance(value, (int, float)) and operator not in ("~", "~*", ":"):
        typed_number = sa.case((type_name == "number", number))
        return _COMPARE[operator](typed_number, sa.bindparam(None, float(value), sa.Float()))  # type: ignore[no-any-return]
    typed_text = sa.case((type_name == "string", text))
    return _text_compare(dialect, typed_text, operator, node.text or str(value))


def _compare(dialect: str, node: Compare, negated: bool) -> ColumnElement[bool]:
    field = node.field.lower()
    table = record_table.c
    try:
        if field.startswith("data."):
            return _json_compare(dialect, node, negated)
        if field in TEXT_COLUMNS:
            if node.operator == "IS NULL":
                return table[TEXT_COLUMNS[field]].is_(None)
            if node.operator == "IS MISSING":
                raise QuerySyntaxError(
                    f"{field} is never missing (IS MISSING applies to data.<key>)", node.position
                )
            if node.value is None:
                if node.operator not in ("=", "!="):
                    raise QuerySyntaxError("null only compares with = or !=", node.value_position)
                column = table[TEXT_COLUMNS[field]]
                return column.is_(None) if node.operator == "=" else column.is_not(None)
            text = node.text if node.text or node.quoted else str(node.value)
            return _text_compare(dialect, table[TEXT_COLUMNS[field]], node.operator, text)
        if node.operator not in _COMPARE:
            raise QuerySyntaxError(f"{node.operator} does not apply to {field}", node.position)
        if field == "level":
            bound: Any = parse_level(_scalar(node))
            return _COMPARE[node.operator](table.level, bound)  # type: ignore[no-any-return]
        if field in ("time", "timestamp"):
            return _COMPARE[node.operator](table.time_us, parse_time_us(_scalar(node)))  # type: ignore[no-any-return]
        if field == "id":
            number = _scalar(node)
            if not isinstance(number, int) or not 0 <= number < _MAX_INT:
                raise ValueError("id must be a positive integer")
            return _COMPARE[node.operator](table.id, number)  # type: ignore[no-any-return]
    except ValueError as exc:
        if isinstance(exc, QuerySyntaxError):
            raise
        raise QuerySyntaxError(str(exc), node.value_position) from None
    raise QuerySyntaxError(
        f"unknown field {node.field[:60]!r} (use level, time, id, {', '.join(TEXT_COLUMNS)} or data.<key>)",
        node.position,
    )


def _scalar(node: Compare) -> str | int | float:
    if node.value is None or isinstance(node.value, bool):
        raise ValueError(f"{node.field} cannot compare with {node.value!r}")
    return node.value


def query_to_sql(node: Node, dialect: str, negated: bool = False) -> ColumnElement[bool]:
    """The SQLAlchemy boolean expression of a parsed query for ``dialect`` (sqlite/postgresql).

    ``negated``: ``node`` is under an odd number of ``NOT`` (there, unlike anywhere else in a
    WHERE clause, a NULL comparison and a false one give different rows).
    """
    if isinstance(node, Compare):
        return _compare(dialect, node, negated)
    if isinstance(node, Not):
        return sa.not_(query_to_sql(node.operand, dialect, not negated))
    if isinstance(node, And):
        return sa.and_(*(query_to_sql(operand, dialect, negated) for operand in node.operands))
    if isinstance(node, Or):
        return sa.or_(*(query_to_sql(operand, dialect, negated) for operand in node.operands))
    raise TypeError(node)


def build_filter(params: Mapping[str, str], dialect: str) -> ColumnElement[bool]:
    """One expression of every filter parameter present; raises FilterError/QuerySyntaxError."""
    table = record_table.c
    clauses: list[ColumnElement[bool]] = []
    for name, column, operator in (("after", table.time_us, ">="), ("before", table.time_us, "<=")):
        raw = params.get(name)
        if raw:
            try:
                clauses.append(_COMPARE[operator](column, parse_time_us(raw)))
            except ValueError as exc:
                raise FilterError(name, str(exc)) from None
    raw = params.get("level")
    if raw:
        try:
            clauses.append(table.level >= parse_level(raw))
        except ValueError as exc:
            raise FilterError("level", str(exc)) from None
    raw = params.get("name")
    if raw:
        prefixes = [prefix.strip() for prefix in raw.split(",") if prefix.strip()]
        if len(prefixes) > MAX_NAME_PREFIXES:
            raise FilterError("name", f"{len(prefixes)} prefixes, more than the limit of {MAX_NAME_PREFIXES}")
        if prefixes:
            clauses.append(sa.or_(*(_name_prefix(dialect, table.logger_name, prefix) for prefix in prefixes)))
    for name in ("request_id", "trace_id"):
        raw = params.get(name)
        if raw:
            clauses.append(table[name] == sa.bindparam(None, raw, sa.String()))
    raw = params.get("query")
    if raw and raw.strip():
        clauses.append(query_to_sql(parse(raw), dialect))
    return sa.and_(sa.true(), *clauses)
