"""SQL spans: each statement of an instrumented engine is a child span, on a real PostgreSQL."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy
from pyramid.config import Configurator
from sqlalchemy import text

from c2cwsgiutils import _guard, context, spans, sql
from c2cwsgiutils.db import setup_session
from c2cwsgiutils.logging.record import record_to_dict
from c2cwsgiutils.spans import span
from c2cwsgiutils.sql import hooks
from c2cwsgiutils.sql.spans import SqlSpanSettings, attach


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.events: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.events.append(record_to_dict(record))

    def sql(self) -> list[dict[str, Any]]:
        return [event for event in self.events if event.get("span_kind") == "sql"]


@pytest.fixture
def events() -> Iterator[Collect]:
    logger = logging.getLogger("c2cwsgiutils.spans")
    handler = Collect()
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    spans.configure(events=True)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


@pytest.fixture
def engine(make_engine: Callable[..., sqlalchemy.Engine]) -> sqlalchemy.Engine:
    made = make_engine()
    sql.instrument(made)
    return made


def test_a_statement_is_a_child_span_with_its_normalised_text_rows_and_database(
    engine: sqlalchemy.Engine, events: Collect, pg_url: str
) -> None:
    with span("checkout") as parent, engine.connect() as conn:
        conn.execute(text("SELECT g FROM generate_series(1, :n) AS g WHERE g > 1e0"), {"n": 3})
    (event,) = events.sql()
    assert event["span_name"] == "sql"
    assert event["sql"] == "SELECT g FROM generate_series(?) AS g WHERE g > ?"
    assert event["sql_rows"] == 2
    assert event["sql_database"] == sqlalchemy.make_url(pg_url).database
    assert event["sql_dialect"] == "postgresql"
    assert event["status"] == "ok"
    assert event["duration_ms"] >= 0
    assert event["parent_span_id"] == parent.span_id
    assert event["trace_id"] == parent.trace_id
    assert event["span_id"] not in ("", parent.span_id)


def test_the_connection_set_up_queries_are_not_shown(engine: sqlalchemy.Engine, events: Collect) -> None:
    with span("first"), engine.connect() as conn:  # the engine's very first connection
        conn.execute(text("SELECT 42"))
    assert [event["sql"] for event in events.sql()] == ["SELECT ?"]


def test_no_span_outside_a_trace(engine: sqlalchemy.Engine, events: Collect) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    assert events.sql() == []


def test_no_span_when_span_events_are_off(engine: sqlalchemy.Engine, events: Collect) -> None:
    with span("on"):
        spans.configure(events=False)
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        finally:
            spans.configure(events=True)
    assert events.sql() == []


def test_a_failing_statement_is_an_error_span(engine: sqlalchemy.Engine, events: Collect) -> None:
    with span("failing"), engine.connect() as conn, pytest.raises(sqlalchemy.exc.ProgrammingError):
        conn.execute(text("SELECT * FROM no_such_table_at_all"))
    (event,) = events.sql()
    assert event["status"] == "error"
    assert event["error_type"] == "UndefinedTable"


def test_statements_faster_than_the_threshold_are_not_recorded(
    engine: sqlalchemy.Engine, events: Collect
) -> None:
    attach(hooks.hooks_for(engine.dialect), SqlSpanSettings(min_duration_ms=30))
    with span("slow"), engine.connect() as conn:
        conn.execute(text("SELECT 1"))
        conn.execute(text("SELECT pg_sleep(0.05)"))
    assert [event["sql"] for event in events.sql()] == ["SELECT pg_sleep(?)"]


def test_past_the_cap_one_capped_event_then_nothing_until_the_next_request(
    engine: sqlalchemy.Engine, events: Collect
) -> None:
    attach(hooks.hooks_for(engine.dialect), SqlSpanSettings(max_per_request=3))
    with engine.connect() as conn:
        for request_id in ("first", "second"):
            with context.bind(request_id=request_id), span("request"):
                for number in range(6):
                    conn.execute(text(f"SELECT {number}"))
    names = [(event["request_id"], event["span_name"]) for event in events.sql()]
    assert names == [
        *[("first", "sql")] * 3,
        ("first", "sql capped"),
        *[("second", "sql")] * 3,
        ("second", "sql capped"),
    ]


def test_executemany_is_one_span(engine: sqlalchemy.Engine, events: Collect) -> None:
    with span("many"), engine.begin() as conn:
        conn.execute(text("CREATE TEMPORARY TABLE many_rows (a int)"))
        conn.execute(text("INSERT INTO many_rows (a) VALUES (:a)"), [{"a": 1}, {"a": 2}, {"a": 3}])
    statements = [event["sql"] for event in events.sql()]
    assert statements[-1] == "INSERT INTO many_rows (a) VALUES (?)"


def test_the_role_comes_from_setup_session(pg_url: str, events: Collect) -> None:
    config = Configurator(settings={"sqlalchemy.url": pg_url, "sqlalchemy_slave.url": pg_url})
    _, read_write, read_only = setup_session(config, "sqlalchemy", "sqlalchemy_slave")
    try:
        with span("roles"):
            for engine in (read_write, read_only):
                with engine.connect() as conn:
                    conn.execute(text("SELECT 1"))
    finally:
        read_write.dispose()
        read_only.dispose()
    assert [event["sql_role"] for event in events.sql()] == ["master", "slave"]


def test_the_pyramid_include_records_the_engines_the_application_makes(
    make_engine: Callable[..., sqlalchemy.Engine], events: Collect
) -> None:
    config = Configurator(settings={})
    config.include("c2cwsgiutils.sql.spans")
    engine = make_engine()  # not given to instrument()
    with span("own"), engine.connect() as conn:
        conn.execute(text("SELECT 'secret value'"))
    assert [event["sql"] for event in events.sql()] == ["SELECT ?"]


def test_off_by_setting(make_engine: Callable[..., sqlalchemy.Engine], events: Collect) -> None:
    engine = make_engine()
    sql.instrument(engine, settings={"c2c.sql_spans": "false"})
    with span("off"), engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    assert events.sql() == []


class Broken(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        raise RuntimeError("this handler is broken")


def test_a_failing_span_never_fails_the_statement(
    engine: sqlalchemy.Engine, events: Collect, caplog: pytest.LogCaptureFixture
) -> None:
    logger = logging.getLogger("c2cwsgiutils.spans")
    broken = Broken(logging.INFO)
    _guard.reset()
    with span("outer"), engine.connect() as conn:
        logger.addHandler(broken)
        try:
            assert conn.execute(text("SELECT 41 + 1")).scalar() == 42
            assert conn.execute(text("SELECT 2")).scalar() == 2
        finally:
            logger.removeHandler(broken)
    errors = [r for r in caplog.records if r.name == "c2cwsgiutils.sql.spans"]
    assert len(errors) == 1  # not one per statement
    assert "this handler is broken" in str(errors[0].exc_info[1])  # type: ignore[index]


def test_without_sqlalchemy_the_include_says_so_and_goes_on() -> None:
    code = (
        "import logging, sys\n"
        "sys.modules['sqlalchemy'] = None  # as if it were not installed\n"
        "logging.basicConfig(level=logging.INFO, stream=sys.stdout, format='%(name)s %(message)s')\n"
        "from pyramid.config import Configurator\n"
        "config = Configurator(settings={})\n"
        "config.include('c2cwsgiutils.sql.spans')\n"
        "config.commit()\n"
        "print('included')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "SQL spans disabled: the 'SQLAlchemy' package is not installed" in result.stdout
    assert result.stdout.strip().endswith("included")


class ContextAtEmit(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.seen: list[context.Context] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.seen.append(context.current())


def test_the_span_context_while_its_event_is_emitted_is_a_whole_context(
    engine: sqlalchemy.Engine, events: Collect
) -> None:
    logger = logging.getLogger("c2cwsgiutils.spans")
    watcher = ContextAtEmit()
    logger.addHandler(watcher)
    try:
        with context.bind(request_id="whole"), span("outer") as outer, engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            expected = context.current()
    finally:
        logger.removeHandler(watcher)
    during = watcher.seen[0]  # the SQL span's event (the outer span's comes after)
    assert len(during) == len(context.Context._fields)
    assert (
        during._replace(
            span_id=expected.span_id, parent_span_id=expected.parent_span_id, span_path=expected.span_path
        )
        == expected
    )
    assert (during.parent_span_id, during.span_path) == (outer.span_id, f"{expected.span_path}.sql")
