"""SQL statement timers on real PostgreSQL and SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from c2cwsgiutils import stats
from c2cwsgiutils.stats import sql
from c2cwsgiutils.stats.memory import memory_backend


@pytest.fixture
def timers() -> Iterator[Any]:
    stats.setup({"c2c.stats_view": "true"})

    def read() -> dict[str, Any]:
        backend = memory_backend()
        assert backend is not None
        return {k: v for k, v in backend.snapshot()["timers"].items() if k.startswith("sql.")}

    yield read
    sql.uninstrument()


def test_literals_and_parameters_become_placeholders() -> None:
    assert sql.normalize("SELECT * FROM t WHERE a = 'x''y' AND b = 42 AND c = %(c_1)s AND d = $1") == (
        "SELECT * FROM t WHERE a = ? AND b = ? AND c = ? AND d = ?"
    )


def test_in_lists_collapse() -> None:
    assert sql.normalize("SELECT 1 FROM t WHERE id IN (1, 2, 3, 4)") == sql.normalize(
        "SELECT 1 FROM t WHERE id IN (5)"
    )


def test_multi_row_values_collapse() -> None:
    assert sql.normalize("INSERT INTO t (a, b) VALUES (1, 'a'), (2, 'b'), (3, 'c')") == (
        "INSERT INTO t (a, b) VALUES (?)"
    )


def test_comments_are_removed() -> None:
    # Request-ID comments would otherwise make one metric per request.
    assert sql.normalize("/*request_id='abc'*/ SELECT a -- note\nFROM t") == "SELECT a FROM t"


def test_identifiers_with_digits_and_casts_are_kept() -> None:
    assert (
        sql.normalize("SELECT col1::text FROM t2 WHERE x = :name") == "SELECT col1::text FROM t2 WHERE x = ?"
    )


def test_long_statements_are_truncated_with_a_hash() -> None:
    first = sql.normalize("SELECT " + ", ".join(f"col_a{i}" for i in range(100)) + " FROM t")
    second = sql.normalize("SELECT " + ", ".join(f"col_a{i}" for i in range(101)) + " FROM t")
    assert len(first) <= sql.MAX_LENGTH + 10
    assert first != second


def test_sqlite_statements_are_timed_for_an_instrumented_engine(timers: Any, tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    sql.instrument(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE hello (id INTEGER PRIMARY KEY, name TEXT)"))
        for i in range(3):
            conn.execute(sa.text("INSERT INTO hello (name) VALUES (:name)"), {"name": f"n{i}"})
        conn.execute(sa.text("SELECT name FROM hello WHERE id IN (1, 2)"))
    engine.dispose()
    recorded = timers()
    assert recorded["sql.INSERT INTO hello (name) VALUES (?)"]["count"] == 3
    assert recorded["sql.SELECT name FROM hello WHERE id IN (?)"]["count"] == 1


def test_engines_not_instrumented_are_not_timed(timers: Any) -> None:
    engine = sa.create_engine("sqlite://")
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT 1"))
    assert timers() == {}


def test_postgresql_statements_are_timed_in_wall_clock_time(timers: Any, pg_url: str) -> None:
    engine = sa.create_engine(pg_url)
    sql.instrument(engine)
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT pg_sleep(:seconds)"), {"seconds": 0.05})
    engine.dispose()
    assert timers()["sql.SELECT pg_sleep(?)"]["min_ms"] >= 50


def test_setting_instruments_every_engine(timers: Any, pg_url: str) -> None:
    from pyramid.config import Configurator

    config = Configurator(settings={"c2c.stats_view": "true", "c2c.sql_stats": "true"})
    config.include("c2cwsgiutils.stats")
    engine = sa.create_engine(pg_url)
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT 1 WHERE 2 = 2"))
    engine.dispose()
    assert timers()["sql.SELECT ? WHERE ? = ?"]["count"] == 1


def test_distinct_statements_are_bounded(timers: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sql, "MAX_STATEMENTS", 0)
    monkeypatch.setattr(sql, "_seen", set())
    engine = sa.create_engine("sqlite://")
    sql.instrument(engine)
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT 1"))
    assert list(timers()) == ["sql.other"]


def test_an_engine_instrumented_twice_records_each_statement_once(timers: Any, tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    sql.instrument()  # every engine (C2C_SQL_STATS, or a metrics backend enabled)
    sql.instrument(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("SELECT 1"))
    sql.uninstrument(engine)
    engine.dispose()
    assert timers()["sql.SELECT ?"]["count"] == 1
