"""The filter language: parsing, error positions, identical results on SQLite, PostgreSQL and ClickHouse."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from c2cwsgiutils.collector.intake import ingest
from c2cwsgiutils.collector.query.filters import build_filter
from c2cwsgiutils.collector.query.language import And, Compare, Not, Or, QuerySyntaxError, parse
from c2cwsgiutils.collector.storage.backends import Storage, migrate, open_storage
from c2cwsgiutils.collector.storage.clickhouse_sql import compile_sql
from tests.collector.conftest import CHDB_MISSING
from tests.collector.records import BASE, wire


def test_and_binds_tighter_than_or() -> None:
    node = parse("level = 1 OR level = 2 AND level = 3")
    assert isinstance(node, Or)
    assert isinstance(node.operands[1], And)


def test_not_applies_to_the_next_comparison() -> None:
    node = parse("NOT name:celery AND level > 1")
    assert isinstance(node, And)
    assert isinstance(node.operands[0], Not)


def test_values_are_typed() -> None:
    node = parse('data.a = 42 AND data.b = "42" AND data.c = true AND data.d = null AND data.e = 1.5')
    assert isinstance(node, And)
    assert [operand.value for operand in node.operands if isinstance(operand, Compare)] == [
        42,
        "42",
        True,
        None,
        1.5,
    ]


def test_string_escapes() -> None:
    node = parse(r'message = "say \"hi\"\n"')
    assert isinstance(node, Compare)
    assert node.value == 'say "hi"\n'


@pytest.mark.parametrize(
    ("query", "position"),
    [
        ("level >=", 8),
        ("level >= WARNING AND", 20),
        ("(level = 1", 10),
        ('message ~ "open', 10),
        ("level # 3", 6),
        ("level = 1 level = 2", 10),
        ("= 3", 0),
        ("", 0),
        ("data.x IS", 9),
        ("data.x IS EMPTY", 10),
        ("data.x IS NOT 1", 14),
    ],
)
def test_syntax_errors_carry_the_position(query: str, position: int) -> None:
    with pytest.raises(QuerySyntaxError) as error:
        parse(query)
    assert error.value.position == position


def test_deep_nesting_is_refused() -> None:
    with pytest.raises(QuerySyntaxError, match="nested deeper"):
        parse("(" * 100 + "level = 1" + ")" * 100)


@pytest.mark.parametrize(
    ("query", "position"),
    [
        ("colour = 1", 0),
        ("level = loud", 8),
        ("data.x > true", 9),
        ("time > yesterday", 7),
        ("data.a..b = 1", 0),
        ("data.tags[-1] = 1", 0),
        ("data.tags[x] = 1", 0),
        ("message IS MISSING", 0),
        ("level ~* 1", 0),
        ("data.x IS NULL AND level IS NULL", 19),
    ],
)
def test_semantic_errors_carry_the_position(query: str, position: int) -> None:
    with pytest.raises(QuerySyntaxError) as error:
        build_filter({"query": query}, "sqlite")
    assert error.value.position == position


DATASET = [
    wire(
        "Connection timeout",
        levelno=40,
        logger_name="app.db",
        user_id=42,
        tags=["a"],
        nested={"deep": {"v": 1}},
    ),
    wire("connection TIMEOUT", levelno=30, logger_name="celery.worker", user_id="42", flag=True),
    wire("ok", levelno=20, logger_name="app.views", user_id=7, flag=False, ratio=0.5, maybe=None),
    wire("Überraschung ça marche", levelno=10, logger_name="app", host="Web-2", user_id=42.0),
    wire("50% done_", levelno=20, logger_name="appx", request_id="r-1", created=BASE + 3600),
    wire("", levelno=50, logger_name="", service=None, created=BASE + 7200),
    wire("numeric-looking request id", request_id="123e4567"),
]

QUERIES = [
    "data.user_id = 42",
    'data.user_id = "42"',
    "data.user_id != 42",
    "data.user_id >= 7 AND data.user_id < 42",
    "data.flag = true",
    "data.flag != false",
    "data.maybe = null",
    "data.missing = null",
    "data.user_id != null",
    "data.ratio > 0.25",
    "data.nested.deep.v = 1",
    'message ~ "timeout"',
    'message ~ "TIMEOUT"',
    'message ~ "%"',
    'message ~ "_"',
    'message ~ "ç"',
    "message:Conn",
    'message > "Z"',
    'message < "c"',
    'message = ""',
    "name:app",
    "name:app.",
    "NOT name:celery",
    "level >= WARNING AND NOT name:celery",
    "level > 10 OR host = Web-2",
    "host ~ web",
    "request_id = r-1",
    "request_id = null",
    "service = null",
    'time >= "2025-11-22T09:00:00Z"',
    "time < 1763803000",
    "id > 2 AND id <= 5",
    "(level = 20 OR level = 50) AND NOT (message = ok)",
    'data.user_id ~ "4"',
    "data.tags = null",
    # Under NOT, a value of another type (or no value) must stay out: NULL, not false.
    "NOT data.user_id = 42",
    'NOT data.user_id = "42"',
    "NOT data.flag = true",
    "NOT data.flag != false",
    "NOT (data.user_id >= 7 AND data.user_id < 42)",
    "NOT NOT data.user_id = 42",
    'NOT data.user_id ~ "4"',
    "level >= 10 AND NOT (data.ratio > 0.25 OR data.flag = false)",
    # Issue #24: case-insensitive match, array indexing, IS NULL / IS MISSING.
    'message ~* "timeout"',
    'message ~* "ÇA"',
    'data.user_id ~* "4"',
    'NOT data.tags[0] ~* "A"',
    'data.tags[0] = "a"',
    "data.tags[0] IS MISSING",
    "data.maybe IS NULL",
    "data.maybe IS NOT NULL",
    "NOT data.maybe IS NULL",
    "data.maybe IS MISSING",
    "data.user_id IS NOT MISSING",
    "request_id IS NULL",
]


def _load(storage: Storage) -> None:
    now = time.time()
    storage.insert([ingest.record_to_row(dict(record), now) for record in DATASET])


@pytest.fixture(scope="module")
def storages(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Storage, Storage]]:
    sqlite = open_storage(f"sqlite:///{tmp_path_factory.mktemp('ql') / 'ql.sqlite'}")
    postgres = open_storage(pg_url)
    for storage in (sqlite, postgres):
        migrate(storage)
    with postgres.engine.begin() as connection:
        connection.execute(sa.text("TRUNCATE c2c_log_record RESTART IDENTITY"))
    _load(sqlite)
    _load(postgres)
    yield sqlite, postgres
    sqlite.dispose()
    postgres.dispose()


def _ids(storage: Storage, query: str) -> list[int]:
    rows = storage.range(build_filter({"query": query}, storage.dialect), 0, 100)
    return sorted(row["id"] for row in rows)


@pytest.mark.parametrize("query", QUERIES)
def test_sqlite_and_postgresql_return_the_same_records(storages: tuple[Storage, Storage], query: str) -> None:
    sqlite, postgres = storages
    assert _ids(sqlite, query) == _ids(postgres, query)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("data.user_id = 42", [1, 4]),
        ('data.user_id = "42"', [2]),
        ('message ~ "timeout"', [1]),
        ("name:app", [1, 3, 4, 5, 7]),
        ("level >= WARNING AND NOT name:celery", [1, 6]),
        ("data.flag = true", [2]),
        ("data.flag != true", [3]),
        ("NOT data.user_id = 42", [3]),  # "42" is a string: out, as on PostgreSQL
        ("NOT NOT data.user_id = 42", [1, 4]),
        ("request_id = 123e4567", [7]),
        ('message ~* "TIMEOUT"', [1, 2]),
        ('message ~* "ça"', [4]),
        ('message ~* "ÇA"', []),  # ASCII letters only are folded, alike on every backend
        ('data.tags[0] = "a"', [1]),
        ('data.tags[0] ~* "A"', [1]),
        ("data.tags[0] IS MISSING", [2, 3, 4, 5, 6, 7]),
        ("data.maybe = null", [1, 2, 3, 4, 5, 6, 7]),  # JSON null or absent
        ("data.maybe IS NULL", [3]),  # JSON null only
        ("data.maybe IS MISSING", [1, 2, 4, 5, 6, 7]),  # absent only
        ("data.maybe IS NOT NULL", [1, 2, 4, 5, 6, 7]),
        ("NOT data.maybe IS MISSING", [3]),
        ("data.user_id IS NOT MISSING", [1, 2, 3, 4]),
        ("request_id IS NULL", [1, 2, 3, 4, 6]),
    ],
)
def test_query_results(storages: tuple[Storage, Storage], query: str, expected: list[int]) -> None:
    assert _ids(storages[0], query) == expected


def test_user_text_is_bound_not_inlined(tmp_path: Path) -> None:
    storage = open_storage(f"sqlite:///{tmp_path / 'x.sqlite'}")
    migrate(storage)
    where = build_filter({"query": 'message = "x\'; DROP TABLE c2c_log_record; --"'}, "sqlite")
    assert "DROP" not in str(where.compile(dialect=storage.engine.dialect))
    assert storage.count(where) == 0
    storage.dispose()


@pytest.fixture(scope="module")
def clickhouse(storages: tuple[Storage, Storage]) -> Iterator[Storage]:
    """The same records in an embedded ClickHouse (chdb), loaded as on the other backends."""
    pytest.importorskip("chdb", reason=CHDB_MISSING)
    url = f"chdb://?database=c2c_ql_{uuid.uuid4().hex[:12]}"
    storage = open_storage(url)
    migrate(storage)
    _load(storage)
    yield storage
    storage.client.command(f"DROP DATABASE IF EXISTS {storage.database}")  # type: ignore[attr-defined]
    storage.dispose()


def _ordinals(storage: Storage, query: str) -> list[int]:
    """The records matching ``query`` by their rank in DATASET (1-based): ClickHouse's ids are
    not 1, 2, 3... (Snowflake-like, see storage/clickhouse.py), their order is the insertion order."""
    every = sorted(row["id"] for row in storage.range(sa.true(), 0, 100))
    rank = {record_id: index + 1 for index, record_id in enumerate(every)}
    # ``id`` comparisons name SQLite's ids: the ClickHouse ids of the same ranks.
    query = re.sub(r"\bid (<=|>=|<|>|=) (\d+)", lambda m: f"id {m[1]} {every[int(m[2]) - 1]}", query)
    return sorted(
        rank[row["id"]] for row in storage.range(build_filter({"query": query}, storage.dialect), 0, 100)
    )


@pytest.mark.parametrize("query", QUERIES)
def test_clickhouse_returns_the_records_of_sqlite_and_postgresql(
    storages: tuple[Storage, Storage], clickhouse: Storage, query: str
) -> None:
    assert _ordinals(clickhouse, query) == _ids(storages[0], query)


def test_clickhouse_renders_user_text_as_an_escaped_literal(clickhouse: Storage) -> None:
    where = build_filter({"query": 'message = "x\\\\\'; DROP TABLE c2c_log_record; --"'}, "clickhouse")
    assert "'x\\\\\\'; DROP" in compile_sql(sa.select(sa.func.count()).where(where))
    assert clickhouse.count(where) == 0
    assert clickhouse.count(sa.true()) == len(DATASET)
