from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy
from pyramid.config import Configurator
from sqlalchemy import text
from webtest import TestApp

from c2cwsgiutils.db import get_database, setup_session
from c2cwsgiutils.sql import activity

SECRET = "activity-secret"


def sleep_view(request: Any) -> dict[str, Any]:
    try:
        request.dbsession.execute(text("SELECT pg_sleep(60)"))
    except sqlalchemy.exc.OperationalError:
        request.tm.abort()
        return {"cancelled": True}
    return {"cancelled": False}


def make_app(pg_url: str, mode: str) -> tuple[TestApp, Configurator]:
    config = Configurator(
        settings={
            "sqlalchemy.url": pg_url,
            "c2c.sql_request_id": "1",
            "c2c.sql_request_id_mode": mode,
            "c2c.secret": SECRET,
        }
    )
    config.include("c2cwsgiutils.pyramid")
    config.add_tween("tests.sql.apps.context_tween_factory")
    setup_session(config, "sqlalchemy")
    config.add_route("sleep", "/sleep")
    config.add_view(sleep_view, route_name="sleep", renderer="json")
    return TestApp(config.make_wsgi_app()), config


def find(app: TestApp, **params: str) -> list[dict[str, Any]]:
    return app.get("/c2c/sql/activity", params={"secret": SECRET, **params}).json["queries"]  # type: ignore[no-any-return]


@pytest.fixture(scope="module", params=["application_name", "comment"])
def sleeping(pg_url: str, request: pytest.FixtureRequest) -> Iterator[tuple[TestApp, str]]:
    """An application with one request (ID sleepy-<mode>) holding pg_sleep open."""
    app, config = make_app(pg_url, request.param)
    request_id = f"sleepy-{request.param}"
    answers: list[Any] = []
    thread = threading.Thread(
        target=lambda: answers.append(
            TestApp(app.app).get("/sleep", headers={"X-Request-ID": request_id}).json
        )
    )
    thread.start()
    deadline = time.monotonic() + 15
    while not find(app, request_id=request_id) and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield app, request_id
    finally:
        admin = sqlalchemy.create_engine(pg_url)
        with admin.connect() as conn:
            conn.execute(
                text(
                    "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(60)%' "
                    "AND pid <> pg_backend_pid() AND datname = current_database()"
                )
            )
        admin.dispose()
        thread.join(15)
        assert answers == [{"cancelled": True}]
        get_database(config.registry).read_write.dispose()


def test_a_running_query_is_found_with_its_request_id(sleeping: tuple[TestApp, str]) -> None:
    app, request_id = sleeping
    [entry] = find(app, request_id=request_id)
    assert entry["app_metadata"]["request_id"] == request_id
    assert entry["app_metadata"]["kind"] == "web"
    assert "pg_sleep(60)" in entry["db_metadata"]["query"]
    assert entry["db_metadata"]["state"] == "active"
    assert entry["db_metadata"]["duration_ms"] > 0
    assert entry["engine"] == "sqlalchemy"


def test_metadata_comes_from_the_carrier_in_use(sleeping: tuple[TestApp, str]) -> None:
    app, request_id = sleeping
    [entry] = find(app, request_id=request_id)
    if request_id.endswith("comment"):
        assert entry["app_metadata"]["route"] == "sleep"
    else:
        assert entry["app_metadata"]["pid"].isdigit()


def test_min_duration_filters_out_shorter_queries(sleeping: tuple[TestApp, str]) -> None:
    app, request_id = sleeping
    assert find(app, request_id=request_id, min_duration="3600000") == []
    assert len(find(app, request_id=request_id, min_duration="1")) == 1


def test_request_id_filter_keeps_only_that_request(sleeping: tuple[TestApp, str]) -> None:
    app, _ = sleeping
    assert find(app, request_id="no-such-request") == []


def test_the_view_needs_the_secret(sleeping: tuple[TestApp, str]) -> None:
    app, _ = sleeping
    TestApp(app.app).get("/c2c/sql/activity", params={"secret": "wrong"}, status=403)


def test_invalid_min_duration_is_a_bad_request(sleeping: tuple[TestApp, str]) -> None:
    app, _ = sleeping
    app.get("/c2c/sql/activity", params={"secret": SECRET, "min_duration": "soon"}, status=400)


def test_app_metadata_merges_application_name_and_comment() -> None:
    assert activity.app_metadata("rid=a,kind=web,pid=9", "/*route='r',traceparent='00-x'*/ SELECT 1") == {
        "request_id": "a",
        "kind": "web",
        "pid": "9",
        "route": "r",
        "traceparent": "00-x",
    }


def test_activity_url_setting_reads_a_database_without_registered_engines(pg_url: str) -> None:
    import psycopg

    config = Configurator(settings={"c2c.sql_activity_url": pg_url, "c2c.secret": SECRET})
    config.include("c2cwsgiutils.sql.activity")
    app = TestApp(config.make_wsgi_app())
    conninfo = sqlalchemy.make_url(pg_url).set(drivername="postgresql").render_as_string(hide_password=False)
    sleeper = psycopg.connect(conninfo, application_name="rid=from-a-cli,kind=cli,pid=77")
    cancelled: list[bool] = []

    def sleep() -> None:
        try:
            sleeper.execute("SELECT pg_sleep(60)")
        except psycopg.errors.QueryCanceled:
            cancelled.append(True)

    thread = threading.Thread(target=sleep, daemon=True)
    try:
        thread.start()
        deadline = time.monotonic() + 15
        found: list[dict[str, Any]] = []
        while not found and time.monotonic() < deadline:
            found = find(app, request_id="from-a-cli")
            time.sleep(0.05)
        [entry] = found
        assert entry["engine"] == "C2C_SQL_ACTIVITY_URL"
        assert entry["app_metadata"] == {"request_id": "from-a-cli", "kind": "cli", "pid": "77"}
    finally:
        sleeper.cancel_safe()
        thread.join(15)
        sleeper.close()
        assert cancelled == [True]
        activity._ACTIVITY_ENGINES.pop(pg_url).dispose()


def test_a_request_id_cut_by_the_application_name_limit_still_matches() -> None:
    long_id = "x" * 80
    name = "rid=" + "x" * 59
    entry = {"db_metadata": {"application_name": name}, "app_metadata": activity.app_metadata(name, "")}
    assert activity._same_request(entry, long_id) is True
    assert activity._same_request(entry, "y" + long_id) is False


def test_including_the_sql_package_adds_both_views() -> None:
    from c2cwsgiutils.admin import admin_views

    config = Configurator(settings={"c2c.secret": SECRET})
    config.include("c2cwsgiutils.sql")
    assert [view.path for view in admin_views(config.registry)] == ["sql/activity", "sql_profiler"]
