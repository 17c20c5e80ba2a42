"""SQLAlchemy Core statements run on ClickHouse: a compiler and a small engine look-alike.

The collector's reads (:mod:`storage`, :mod:`requests_api`, :mod:`stream`, :mod:`status`) are
SQLAlchemy Core statements on :data:`schema.record_table`. This module compiles them to ClickHouse
SQL and runs them through a :class:`Client` (chdb in-process, or a server through
clickhouse-connect), so that the same code serves the ClickHouse backend:

- values are rendered as ClickHouse literals (``'`` and ``\\`` escaped: ClickHouse reads backslash
  escapes in string literals, unlike standard SQL), never pasted from user text otherwise;
- ``substr`` and ``instr`` (the functions :mod:`filters` uses for the prefix and substring tests)
  become ``substringUTF8`` and ``positionUTF8``: ClickHouse's plain ones count bytes, SQLite's and
  PostgreSQL's count characters;
- ``count(*) FILTER (WHERE c)`` becomes ``countIf(c)``.

Only the part of SQLAlchemy's result API the collector uses is provided (``scalar``, ``one``,
``all``, ``first``, ``scalars``, iteration over rows with ``_mapping``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import default
from sqlalchemy.sql import compiler, elements, functions

__all__ = ["ClickHouseDialect", "Client", "Engine", "QueryCanceled", "compile_sql", "literal"]

_TIMEOUT_CODES = ("Code: 159.", "TIMEOUT_EXCEEDED", "Code: 394.", "QUERY_WAS_CANCELLED")


class QueryCanceled(Exception):
    """A read cut short by ``max_execution_time`` (named as psycopg's, which query_timeout knows)."""


class Client(Protocol):
    """What the engine needs of a ClickHouse connection (see clickhouse.py)."""

    def select(self, sql: str) -> list[list[Any]]:
        """Rows of a SELECT, as lists of Python values."""

    def command(self, sql: str) -> None:
        """Run a statement that returns nothing."""


def literal(value: Any) -> str:
    """``value`` as a ClickHouse SQL literal."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"not a finite number: {value!r}")
        return repr(value)
    text = str(value)
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'").replace("\x00", "\\0") + "'"


def _counts_rows(func: Any) -> bool:
    """Whether ``func`` is ``count()`` / ``count(*)``."""
    clauses = list(func.clauses.clauses)
    return not clauses or (len(clauses) == 1 and str(clauses[0]) == "*")


class ClickHouseCompiler(compiler.SQLCompiler):
    """SQLAlchemy's compiler with ClickHouse's spellings (see the module docstring)."""

    _RENAMED = {"substr": "substringUTF8", "instr": "positionUTF8"}

    def render_literal_value(self, value: Any, type_: Any) -> str:
        return literal(value)

    def visit_function(self, func: functions.Function[Any], add_to_result_map: Any = None, **kw: Any) -> str:
        renamed = self._RENAMED.get(func.name.lower())
        if renamed is not None:
            return f"{renamed}{self.function_argspec(func, **kw)}"
        if func.name.lower() == "count" and _counts_rows(func):
            return "count()"
        return super().visit_function(func, add_to_result_map=add_to_result_map, **kw)

    def visit_funcfilter(self, funcfilter: elements.FunctionFilter[Any], **kw: Any) -> str:
        func = funcfilter.func
        criterion = funcfilter.criterion
        if func.name.lower() == "count" and criterion is not None and _counts_rows(func):
            return f"countIf({criterion._compiler_dispatch(self, **kw)})"
        raise NotImplementedError("only count(*) FILTER (WHERE ...) compiles for ClickHouse")

    def limit_clause(self, select: Any, **kw: Any) -> str:
        text = ""
        if select._limit_clause is not None:
            text += "\n LIMIT " + self.process(select._limit_clause, **kw)
        if select._offset_clause is not None:
            if select._limit_clause is None:
                text += "\n LIMIT 18446744073709551615"
            text += " OFFSET " + self.process(select._offset_clause, **kw)
        return text


class ClickHouseDialect(default.DefaultDialect):
    """Just enough of a dialect to compile the collector's statements."""

    name = "clickhouse"
    statement_compiler = ClickHouseCompiler
    supports_native_boolean = True
    supports_statement_cache = False


_DIALECT = ClickHouseDialect()


def compile_sql(statement: Any, database: str | None = None) -> str:
    """ClickHouse SQL of a SQLAlchemy Core statement, every value rendered inline, its tables in
    ``database`` (when given)."""
    if isinstance(statement, str):
        return statement
    if isinstance(statement, elements.TextClause):
        return statement.text
    translate: dict[str, Any] = (
        {"schema_translate_map": {None: database}, "render_schema_translate": True} if database else {}
    )
    return str(statement.compile(dialect=_DIALECT, compile_kwargs={"literal_binds": True}, **translate))


class Row(tuple[Any, ...]):
    """A result row: a tuple with SQLAlchemy's ``_mapping`` (column key -> value)."""

    _keys: Sequence[str] = ()

    @property
    def _mapping(self) -> dict[str, Any]:
        return dict(zip(self._keys, self, strict=False))


class Result:
    """The rows of one statement, with the accessors of SQLAlchemy's Result the collector uses."""

    def __init__(self, keys: Sequence[str], rows: list[list[Any]]) -> None:
        self._keys = tuple(keys)
        row_type = type("Row", (Row,), {"_keys": self._keys})
        self._rows: list[Row] = [row_type(row) for row in rows]

    def keys(self) -> tuple[str, ...]:
        return self._keys

    def __iter__(self) -> Iterator[Row]:
        return iter(self._rows)

    def all(self) -> list[Row]:
        return list(self._rows)

    def first(self) -> Row | None:
        return self._rows[0] if self._rows else None

    def one(self) -> Row:
        if len(self._rows) != 1:
            raise (
                sa.exc.NoResultFound("expected one row") if not self._rows else sa.exc.MultipleResultsFound()
            )
        return self._rows[0]

    def scalar(self) -> Any:
        return self._rows[0][0] if self._rows else None

    def scalar_one(self) -> Any:
        return self.one()[0]

    def scalar_one_or_none(self) -> Any:
        if not self._rows:
            return None
        return self.one()[0]

    def scalars(self) -> Scalars:
        return Scalars([row[0] for row in self._rows])


class Scalars:
    """The first column of each row (``Result.scalars()``)."""

    def __init__(self, values: list[Any]) -> None:
        self._values = values

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def all(self) -> list[Any]:
        return list(self._values)

    def first(self) -> Any:
        return self._values[0] if self._values else None


class Connection:
    """One "connection": statements go straight to the client (ClickHouse has no transactions)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def execute(self, statement: Any, parameters: Any = None, settings: str = "") -> Result:
        """Run ``statement``; ``settings``: more ClickHouse settings (``"max_threads = 1"``)."""
        if parameters:
            raise NotImplementedError("bound parameters: the statement renders its values inline")
        return self.engine.run(statement, settings)

    def exec_driver_sql(self, sql: str) -> Result:
        return self.engine.run(sa.text(sql))

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *_exc: object) -> None:
        return None

    def close(self) -> None:
        return None


class Engine:
    """The part of ``sqlalchemy.Engine`` the collector's read code uses, on a ClickHouse client."""

    dialect = _DIALECT

    def __init__(
        self, client: Client, url: str, database: str | None = None, read_settings: str = ""
    ) -> None:
        self.client = client
        self.url = url
        self.database = database
        self.read_settings = read_settings  # e.g. " SETTINGS max_execution_time=30"

    def execution_options(self, **_options: Any) -> Engine:
        return self

    def connect(self) -> Connection:
        return Connection(self)

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        yield Connection(self)

    def run(self, statement: Any, settings: str = "") -> Result:
        """Rows of ``statement`` (a SELECT: with the read settings, and ``settings``)."""
        sql = compile_sql(statement, self.database)
        is_select = isinstance(statement, sa.sql.Select) or sql.lstrip()[:6].upper() in ("SELECT", "WITH (")
        try:
            if not is_select:
                self.client.command(sql)
                return Result([], [])
            read_settings = self.read_settings
            if settings:
                read_settings = f"{read_settings}, {settings}" if read_settings else f" SETTINGS {settings}"
            rows = self.client.select(sql + read_settings)
        except Exception as exc:
            text = str(exc)
            if any(code in text for code in _TIMEOUT_CODES):
                raise sa.exc.OperationalError(sql[:200], None, QueryCanceled(text[:500])) from None
            raise
        keys = list(statement.selected_columns.keys()) if isinstance(statement, sa.sql.Select) else []
        if not keys and rows:
            keys = [f"column_{index}" for index in range(len(rows[0]))]
        return Result(keys, rows)

    def dispose(self) -> None:
        return None
