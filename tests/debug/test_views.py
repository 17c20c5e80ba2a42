"""The debug views through a real Pyramid application (WebTest), in this process."""

from __future__ import annotations

import datetime
import os
import threading
import time
from typing import Any

import pytest
import webtest
from pyramid.config import Configurator

from c2cwsgiutils import ConfigError
from c2cwsgiutils.debug.views import DebugError

SECRET = "s3cr3t-debug"


def make_app(**settings: Any) -> webtest.TestApp:
    config = Configurator(settings=settings)
    config.include("c2cwsgiutils.debug")
    return webtest.TestApp(config.make_wsgi_app())


@pytest.fixture
def app() -> webtest.TestApp:
    return make_app(**{"c2c.debug_view_secret": SECRET})


# ---- secret ---------------------------------------------------------------------------------


def test_views_answer_404_when_no_secret_is_configured() -> None:
    app = make_app()
    for path in ("stacks", "memory", "headers", "sleep?time=0", "time", "error"):
        app.get(f"/c2c/debug/{path}", status=404)


def test_wrong_secret_is_403(app: webtest.TestApp) -> None:
    app.get("/c2c/debug/headers", params={"secret": "wrong"}, status=403)


def test_missing_secret_is_403(app: webtest.TestApp) -> None:
    app.get("/c2c/debug/headers", status=403)


def test_secret_in_query_string_opens_and_sets_the_cookie(app: webtest.TestApp) -> None:
    response = app.get("/c2c/debug/headers", params={"secret": SECRET}, status=200)
    assert "c2c-secret" in response.headers["Set-Cookie"]
    app.get("/c2c/debug/headers", status=200)  # the cookie alone now opens it


def test_secret_in_header_opens(app: webtest.TestApp) -> None:
    app.get("/c2c/debug/headers", headers={"X-API-Key": SECRET}, status=200)


def test_secret_in_cookie_opens(app: webtest.TestApp) -> None:
    app.set_cookie("c2c-secret", SECRET)
    app.get("/c2c/debug/headers", status=200)


def test_c2c_secret_opens_the_debug_views() -> None:
    app = make_app(**{"c2c.secret": "global"})
    app.get("/c2c/debug/headers", headers={"X-API-Key": "global"}, status=200)


def test_debug_view_secret_env_var_beats_the_ini_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEBUG_VIEW_SECRET", "from-env")
    app = make_app(**{"c2c.debug_view_secret": SECRET})
    app.get("/c2c/debug/headers", headers={"X-API-Key": SECRET}, status=403)
    app.get("/c2c/debug/headers", headers={"X-API-Key": "from-env"}, status=200)


def test_views_follow_the_base_path() -> None:
    app = make_app(**{"c2c.debug_view_secret": SECRET, "c2c.base_path": "/ops/"})
    app.get("/ops/debug/headers", headers={"X-API-Key": SECRET}, status=200)
    app.get("/c2c/debug/headers", headers={"X-API-Key": SECRET}, status=404)


# ---- stacks and memory (in-process broadcast) -----------------------------------------------


def test_stacks_show_every_thread_of_this_process(app: webtest.TestApp) -> None:
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, name="waiting-for-the-test", daemon=True)
    thread.start()
    try:
        body = app.get("/c2c/debug/stacks", headers={"X-API-Key": SECRET}).json
    finally:
        stop.set()
        thread.join()
    assert [entry["pid"] for entry in body] == [os.getpid()]
    threads = {t["name"]: t for t in body[0]["threads"]}
    assert "waiting-for-the-test" in threads
    assert any(frame["function"] == "wait" for frame in threads["waiting-for-the-test"]["frames"])
    serving = [t for t in body[0]["threads"] if any(f["function"] == "stacks_view" for f in t["frames"])]
    assert [t["name"] for t in serving] == [threading.current_thread().name]


def test_memory_lists_the_largest_types_by_count_and_size(app: webtest.TestApp) -> None:
    class HeldByTheTest:
        pass

    held = [HeldByTheTest() for _ in range(50_000)]
    body = app.get("/c2c/debug/memory", params={"limit": "5"}, headers={"X-API-Key": SECRET}).json
    assert [entry["pid"] for entry in body] == [os.getpid()]
    memory = body[0]["memory"]
    assert len(memory["by_count"]) == 5
    assert len(memory["by_size"]) == 5
    # In a long test session, more than five other types may outnumber ours: look in the top 1000.
    everything = app.get("/c2c/debug/memory", params={"limit": "1000"}, headers={"X-API-Key": SECRET}).json
    by_count = {row["type"]: row for row in everything[0]["memory"]["by_count"]}
    name = f"{__name__}.{HeldByTheTest.__qualname__}"
    assert by_count[name]["count"] >= len(held)
    assert memory["objects"] >= len(held)
    counts = [row["count"] for row in memory["by_count"]]
    assert counts == sorted(counts, reverse=True)
    sizes = [row["size"] for row in memory["by_size"]]
    assert sizes == sorted(sizes, reverse=True)


@pytest.mark.parametrize("limit", ["0", "-3", "abc", "1001"])
def test_memory_rejects_a_bad_limit(app: webtest.TestApp, limit: str) -> None:
    app.get("/c2c/debug/memory", params={"limit": limit}, headers={"X-API-Key": SECRET}, status=400)


# ---- headers --------------------------------------------------------------------------------


def test_headers_echo_the_request_as_received(app: webtest.TestApp) -> None:
    body = app.get(
        "/c2c/debug/headers",
        params={"a": "1"},
        headers={"X-API-Key": SECRET, "X-Forwarded-For": "203.0.113.7, 10.0.0.1", "X-Custom": "yes"},
        extra_environ={"REMOTE_ADDR": "10.0.0.2"},
    ).json
    assert body["method"] == "GET"
    assert body["url"] == "http://localhost/c2c/debug/headers?a=1"
    assert body["query"] == {"a": "1"}
    assert body["headers"]["X-Custom"] == "yes"
    assert body["headers"]["X-Forwarded-For"] == "203.0.113.7, 10.0.0.1"
    assert body["client_addr"] == "203.0.113.7"
    assert body["remote_addr"] == "10.0.0.2"


def test_headers_never_echo_the_secret(app: webtest.TestApp) -> None:
    response = app.get(
        "/c2c/debug/headers",
        params={"secret": SECRET, "b": "2"},
        headers={"X-API-Key": SECRET, "Cookie": f"other=kept; c2c-secret={SECRET}; third=3"},
    )
    assert SECRET not in response.text
    assert response.json["query"] == {"b": "2"}
    assert "X-Api-Key" not in response.json["headers"]
    assert response.json["headers"]["Cookie"] == "other=kept; third=3"


# ---- sleep, time, error ---------------------------------------------------------------------


def test_sleep_sleeps_the_requested_time(app: webtest.TestApp) -> None:
    response = app.get("/c2c/debug/sleep", params={"time": "0.05"}, headers={"X-API-Key": SECRET}, status=204)
    assert not response.body  # 204 as in 6.x
    assert float(response.headers["Server-Timing"].split("dur=")[1]) >= 50


@pytest.mark.parametrize("value", ["", "-1", "abc", "nan", "inf", "31"])
def test_sleep_rejects_a_bad_or_too_long_time(app: webtest.TestApp, value: str) -> None:
    app.get("/c2c/debug/sleep", params={"time": value}, headers={"X-API-Key": SECRET}, status=400)


def test_sleep_maximum_is_a_setting() -> None:
    app = make_app(**{"c2c.debug_view_secret": SECRET, "c2c.debug_max_sleep": "0.01"})
    app.get("/c2c/debug/sleep", params={"time": "0.02"}, headers={"X-API-Key": SECRET}, status=400)


def test_an_invalid_maximum_sleep_stops_start_up() -> None:
    with pytest.raises(ConfigError, match="C2C_DEBUG_MAX_SLEEP"):
        make_app(**{"c2c.debug_max_sleep": "forever"})


def test_time_gives_the_server_clock(app: webtest.TestApp) -> None:
    before = time.time()
    body = app.get("/c2c/debug/time", headers={"X-API-Key": SECRET}).json
    after = time.time()
    assert before <= body["epoch"] <= after
    utc = datetime.datetime.fromisoformat(body["utc"])
    local = datetime.datetime.fromisoformat(body["local"])
    assert utc.utcoffset() == datetime.timedelta(0)
    assert utc == local
    assert local.utcoffset() == datetime.timedelta(seconds=body["utc_offset_seconds"])


def test_time_is_open_as_in_6x_while_the_debug_views_are_on(app: webtest.TestApp) -> None:
    body = app.get("/c2c/debug/time").json
    assert {"local_time", "gmt_time", "epoch", "timezone"} <= set(body)
    assert datetime.datetime.fromisoformat(body["gmt_time"]) == datetime.datetime.fromisoformat(
        body["utc"]
    ).replace(tzinfo=None)


@pytest.mark.parametrize("status", [400, 404, 418, 500, 503])
def test_error_raises_the_requested_http_status(app: webtest.TestApp, status: int) -> None:
    response = app.get(
        "/c2c/debug/error", params={"status": str(status)}, headers={"X-API-Key": SECRET}, status=status
    )
    assert "Test error raised by debug/error" in response.text


def test_error_without_status_raises_a_plain_exception(app: webtest.TestApp) -> None:
    with pytest.raises(DebugError):
        app.get("/c2c/debug/error", headers={"X-API-Key": SECRET})


def test_error_without_status_is_a_500_behind_an_exception_view() -> None:
    config = Configurator(settings={"c2c.debug_view_secret": SECRET})
    config.include("c2cwsgiutils.debug")

    def internal_error(exc: Exception, request: Any) -> dict[str, str]:
        request.response.status_int = 500
        return {"error": f"{type(exc).__name__}: {exc}"}

    config.add_exception_view(internal_error, Exception, renderer="json")
    app = webtest.TestApp(config.make_wsgi_app())
    body = app.get("/c2c/debug/error", headers={"X-API-Key": SECRET}, status=500).json
    assert body == {"error": "DebugError: Test error raised by debug/error"}


@pytest.mark.parametrize("status", ["200", "302", "600", "abc"])
def test_error_rejects_a_status_that_is_not_an_error(app: webtest.TestApp, status: str) -> None:
    response = app.get(
        "/c2c/debug/error", params={"status": status}, headers={"X-API-Key": SECRET}, status=400
    )
    assert "between 400 and 599" in response.text
