from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy
import zope.sqlalchemy
from pyramid.config import Configurator
from sqlalchemy import text
from webtest import TestApp

from c2cwsgiutils import broadcast
from c2cwsgiutils.db import get_database, setup_session
from c2cwsgiutils.sql import profiler
from tests.helpers import child_env

SECRET = "profiler-secret"


def select_view(request: Any) -> dict[str, Any]:
    value = request.dbsession.execute(
        text("SELECT count(*) FROM pg_class WHERE relname = :name"), {"name": "x"}
    )
    return {"count": value.scalar()}


def insert_view(request: Any) -> dict[str, Any]:
    request.dbsession.execute(text("CREATE TEMP TABLE IF NOT EXISTS profiled (id int)"))
    request.dbsession.execute(text("INSERT INTO profiled VALUES (1)"))
    zope.sqlalchemy.mark_changed(request.dbsession)
    return {"ok": True}


def temp_view(request: Any) -> dict[str, Any]:
    # A temporary table exists only in the request's session: EXPLAIN on another connection fails.
    request.dbsession.execute(text("CREATE TEMP TABLE only_here (id int)"))
    return {"rows": request.dbsession.execute(text("SELECT id FROM only_here")).all()}


def make_app(pg_url: str, **settings: str) -> tuple[TestApp, Configurator]:
    config = Configurator(settings={"sqlalchemy.url": pg_url, "c2c.sql_profiler_secret": SECRET, **settings})
    config.include("c2cwsgiutils.pyramid")
    config.add_tween("tests.sql.apps.context_tween_factory")
    setup_session(config, "sqlalchemy")
    for name, view in (("select", select_view), ("insert", insert_view), ("temp", temp_view)):
        config.add_route(name, f"/{name}")
        config.add_view(view, route_name=name, renderer="json")
    return TestApp(config.make_wsgi_app()), config


@pytest.fixture
def app(pg_url: str) -> Iterator[TestApp]:
    test_app, config = make_app(pg_url)
    yield test_app
    profiler.set_enabled(False)
    get_database(config.registry).read_write.dispose()


def plans(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "c2cwsgiutils.sql_profiler"]


def test_the_view_reports_the_state(app: TestApp) -> None:
    assert app.get("/c2c/sql_profiler", params={"secret": SECRET}).json == {
        "status": 200,  # as in 6.x
        "enabled": False,
        "min_duration_ms": 0.0,
    }


def test_enabled_profiler_logs_the_plan_of_a_select_with_the_request_id(
    app: TestApp, caplog: pytest.LogCaptureFixture
) -> None:
    answer = app.get("/c2c/sql_profiler", params={"secret": SECRET, "enable": "1"}).json
    assert answer["enabled"] is True
    assert [a["result"] for a in answer["processes"]] == [True]
    with caplog.at_level(logging.INFO, logger="c2cwsgiutils.sql_profiler"):
        app.get("/select", headers={"X-Request-ID": "profiled-1"})
    [record] = plans(caplog)
    assert "profiled-1" in record.getMessage()
    assert "count(*) FROM pg_class" in record.getMessage()
    assert "actual time=" in record.sql_plan  # type: ignore[attr-defined]


def test_profiler_works_with_psycopg2_too(pg_url: str, caplog: pytest.LogCaptureFixture) -> None:
    url = (
        sqlalchemy.make_url(pg_url)
        .set(drivername="postgresql+psycopg2")
        .render_as_string(hide_password=False)
    )
    test_app, config = make_app(url)
    try:
        test_app.get("/c2c/sql_profiler", params={"secret": SECRET, "enable": "1"})
        with caplog.at_level(logging.INFO, logger="c2cwsgiutils.sql_profiler"):
            test_app.get("/select", headers={"X-Request-ID": "profiled-2"})
        [record] = plans(caplog)
        assert "profiled-2" in record.getMessage()
        assert "actual time=" in record.sql_plan  # type: ignore[attr-defined]
    finally:
        profiler.set_enabled(False)
        get_database(config.registry).read_write.dispose()


def test_each_distinct_select_is_explained_once(app: TestApp, caplog: pytest.LogCaptureFixture) -> None:
    app.get("/c2c/sql_profiler", params={"secret": SECRET, "enable": "1"})
    with caplog.at_level(logging.INFO, logger="c2cwsgiutils.sql_profiler"):
        app.get("/select")
        app.get("/select")
    assert len(plans(caplog)) == 1


def test_statements_other_than_select_are_not_explained(
    app: TestApp, caplog: pytest.LogCaptureFixture
) -> None:
    app.get("/c2c/sql_profiler", params={"secret": SECRET, "enable": "1"})
    with caplog.at_level(logging.INFO, logger="c2cwsgiutils.sql_profiler"):
        app.post("/insert")
    assert plans(caplog) == []


def test_a_failing_explain_does_not_fail_the_request(app: TestApp, caplog: pytest.LogCaptureFixture) -> None:
    app.get("/c2c/sql_profiler", params={"secret": SECRET, "enable": "1"})
    with caplog.at_level(logging.INFO):
        assert app.post("/temp").json == {"rows": []}
    assert any(r.name == "c2cwsgiutils.sql.profiler" and "failed" in r.getMessage() for r in caplog.records)
    assert plans(caplog) == []


def test_disabling_stops_the_profiler(app: TestApp, caplog: pytest.LogCaptureFixture) -> None:
    app.get("/c2c/sql_profiler", params={"secret": SECRET, "enable": "1"})
    app.get("/c2c/sql_profiler", params={"secret": SECRET, "enable": "0"})
    with caplog.at_level(logging.INFO, logger="c2cwsgiutils.sql_profiler"):
        app.get("/select")
    assert plans(caplog) == []


def test_only_selects_slower_than_the_threshold_are_explained(
    pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    test_app, config = make_app(pg_url, **{"c2c.sql_profiler_min_duration": "60000"})
    try:
        test_app.get("/c2c/sql_profiler", params={"secret": SECRET, "enable": "1"})
        with caplog.at_level(logging.INFO, logger="c2cwsgiutils.sql_profiler"):
            test_app.get("/select")
        assert plans(caplog) == []
    finally:
        profiler.set_enabled(False)
        profiler._State.min_duration_s = 0.0  # back to the default threshold
        get_database(config.registry).read_write.dispose()


def test_the_view_needs_its_secret(app: TestApp) -> None:
    TestApp(app.app).get("/c2c/sql_profiler", params={"secret": "nope", "enable": "1"}, status=403)
    assert profiler.is_enabled() is False


def test_without_any_secret_the_view_does_not_exist(pg_url: str) -> None:
    config = Configurator(settings={})
    config.include("c2cwsgiutils.sql.profiler")
    TestApp(config.make_wsgi_app()).get("/c2c/sql_profiler", status=404)


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        ("SELECT 1", True),
        ("  /* c */ (select 1)", True),
        ("-- c\nSELECT 1", True),
        ("INSERT INTO t SELECT 1", False),
        ("selective", False),
        ("WITH x AS (DELETE FROM t RETURNING *) SELECT * FROM x", False),
    ],
)
def test_only_selects_are_recognized(statement: str, expected: bool) -> None:
    assert profiler.is_select(statement) is expected


def test_normalize_collapses_literals_parameters_and_in_lists() -> None:
    assert (
        profiler.normalize(
            "/*request_id='a'*/ SELECT * FROM t\n WHERE a = 'x''y' AND b IN (1, 2, 3)"
            " AND c = %(c_1)s AND t2.d > 1.5"
        )
        == "SELECT * FROM t WHERE a = ? AND b IN (?) AND c = ? AND t2.d > ?"
    )


LISTENER = textwrap.dedent(
    """
    import sys, time
    from c2cwsgiutils import broadcast
    from c2cwsgiutils.sql import profiler

    broadcast.setup({"c2c.redis_url": sys.argv[1], "c2c.redis_prefix": sys.argv[2]})
    print("ready", flush=True)
    deadline = time.monotonic() + 20
    while not profiler.is_enabled() and time.monotonic() < deadline:
        time.sleep(0.02)
    print("enabled" if profiler.is_enabled() else "timeout", flush=True)
    time.sleep(30)  # stay alive: the answer is published after the flag is set
    """
)


def test_enable_reaches_every_worker_process(pg_url: str, redis_url: str, redis_prefix: str) -> None:
    other = subprocess.Popen(
        [sys.executable, "-c", LISTENER, redis_url, redis_prefix], env=child_env(), stdout=subprocess.PIPE
    )
    try:
        assert other.stdout is not None
        assert other.stdout.readline().strip() == b"ready"
        test_app, config = make_app(pg_url, **{"c2c.redis_url": redis_url, "c2c.redis_prefix": redis_prefix})
        answer = test_app.get("/c2c/sql_profiler", params={"secret": SECRET, "enable": "1"}).json
        assert sorted(a["pid"] for a in answer["processes"]) == sorted([other.pid, os.getpid()])
        assert other.stdout.readline().strip() == b"enabled"
        get_database(config.registry).read_write.dispose()
    finally:
        profiler.set_enabled(False)
        broadcast.shutdown()
        other.kill()
        other.wait()
        assert other.stdout is not None
        other.stdout.close()


class _Cursor:
    def __init__(self) -> None:
        self.executed: list[str] = []

    def execute(self, statement: str) -> None:
        self.executed.append(statement)


def test_once_the_statement_ran_nothing_of_the_profiler_can_fail_it(caplog: pytest.LogCaptureFixture) -> None:
    cursor = _Cursor()
    profiler.set_enabled(True)
    try:
        # No execution context (None has no root_connection): the profiler's part fails, not the call.
        profiler.execute_profiled(cursor, "SELECT 1", None, False, None)
    finally:
        profiler.set_enabled(False)
    assert cursor.executed == ["SELECT 1"]
    assert any(r.name == "c2cwsgiutils.sql.profiler" and "failed" in r.getMessage() for r in caplog.records)
