"""The migrations build what schema.py describes, and the queries find their indexes."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from c2cwsgiutils.collector.storage.backends import migrate, open_storage
from c2cwsgiutils.collector.storage.schema import TABLE_NAME, record_table


def _expected_indexes(dialect: str) -> dict[str, tuple[list[str], str | None]]:
    expected = {}
    for index in record_table.indexes:
        ddl_if = index._ddl_if  # the dialect of Index.ddl_if(), no public accessor
        if ddl_if is not None and ddl_if.dialect != dialect:
            continue
        where = index.dialect_options[dialect].get("where")
        expected[str(index.name)] = ([column.name for column in index.columns], _text(where))
    return expected


def test_migrations_build_the_indexes_of_the_schema(db_url: str) -> None:
    storage = open_storage(db_url)
    if storage.dialect == "clickhouse":
        storage.dispose()
        pytest.skip("ClickHouse has skipping indexes, no alembic ones: see test_storage_clickhouse.py")
    migrate(storage)
    dialect = storage.dialect
    inspector = sa.inspect(storage.engine)
    indexes = {
        index["name"]: (index["column_names"], _text(index["dialect_options"].get(f"{dialect}_where")))
        for index in inspector.get_indexes(TABLE_NAME)
        if "duplicates_constraint" not in index  # PostgreSQL: the index of the unique constraint
    }
    uniques = [constraint["column_names"] for constraint in inspector.get_unique_constraints(TABLE_NAME)]
    storage.dispose()
    assert (indexes, uniques) == (_expected_indexes(dialect), [["uuid"]])


def _text(where: object) -> str | None:
    return None if where is None else str(where).strip("()")


def test_sqlite_queries_use_the_indexes(sqlite_url: str) -> None:
    storage = open_storage(sqlite_url)
    migrate(storage)
    plans = {}
    with storage.engine.connect() as connection:
        for name, sql in {
            "request": "SELECT * FROM c2c_log_record WHERE request_id = 'r' ORDER BY time_us, id",
            "trace": "SELECT id FROM c2c_log_record WHERE trace_id = 't'",
            "newest": "SELECT id FROM c2c_log_record ORDER BY time_us DESC, id DESC LIMIT 100",
            "count": "SELECT count(*) FROM c2c_log_record WHERE time_us >= 1 AND time_us < 2 AND level >= 30",
        }.items():
            rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + sql).fetchall()
            plans[name] = " ".join(row[3] for row in rows)
    storage.dispose()
    assert "INDEX ix_c2c_log_record_request_id" in plans["request"]
    assert "INDEX ix_c2c_log_record_trace_id" in plans["trace"]
    assert "INDEX ix_c2c_log_record_time_level_name" in plans["newest"]
    assert "COVERING INDEX ix_c2c_log_record_time_level_name (time_us>? AND time_us<?)" in plans["count"]
