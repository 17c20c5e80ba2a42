"""``GET /api/v1/stream`` (Server-Sent Events) and ``c2cwsgiutils-logs tail`` consuming it live."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Callable

import pytest
import webtest

from c2cwsgiutils.collector.client import parse_events
from c2cwsgiutils.collector.http import stream
from tests.collector.cli_process import SCRIPT, Collector, collector
from tests.collector.records import ndjson, wire

__all__ = ["collector"]

SCOPE = "0123456789abcdef" * 2  # what the web UI draws at random for its page


def _events(app: webtest.TestApp, query: str, **headers: str) -> list[tuple[str | None, str, str]]:
    response = app.get("/api/v1/stream?timeout=0&" + query, headers=headers)
    assert response.content_type == "text/event-stream"
    lines = response.body.splitlines(keepends=True)
    return [(event.id, event.event, event.data) for event in parse_events(lines)]


def _store(app: webtest.TestApp, *records: dict[str, object]) -> None:
    app.post("/api/v1/record", ndjson(*records), content_type="application/x-ndjson", status=201)


def test_stream_resumes_after_last_event_id(app: webtest.TestApp) -> None:
    _store(app, wire("one"), wire("two"), wire("three"))
    first_id = app.get("/api/v1/record?query=message=one").json[0]["id"]
    events = [e for e in _events(app, "", **{"Last-Event-ID": str(first_id)}) if e[1] == "record"]
    assert [json.loads(data)["message"] for _, _, data in events] == ["two", "three"]
    assert [int(event_id or 0) for event_id, _, _ in events] == [first_id + 1, first_id + 2]


def test_stream_applies_the_record_filters(app: webtest.TestApp) -> None:
    _store(app, wire("quiet"), wire("loud", levelno=40, level_name="ERROR"))
    events = [e for e in _events(app, "last_id=0&level=ERROR") if e[1] == "record"]
    assert [json.loads(data)["message"] for _, _, data in events] == ["loud"]


def test_stream_without_last_event_id_starts_after_the_newest_record(app: webtest.TestApp) -> None:
    _store(app, wire("before"))
    newest = app.get("/api/v1/record").json[0]["id"]
    events = _events(app, "")
    assert events == [(str(newest), "message", "")]


def test_stream_refuses_a_bad_last_event_id(app: webtest.TestApp) -> None:
    response = app.get("/api/v1/stream?timeout=0", headers={"Last-Event-ID": "abc"}, status=400)
    assert response.json["type"] == "invalid_parameter"


def test_stream_moves_the_last_event_id_past_records_that_did_not_match(
    app: webtest.TestApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A heartbeat at every poll: the id-only heartbeat tells where a reconnection may resume.
    monkeypatch.setattr(stream, "HEARTBEAT_SECONDS", 0.0)
    _store(app, wire("quiet one"), wire("quiet two"))
    newest = app.get("/api/v1/record").json[0]["id"]
    response = app.get("/api/v1/stream?timeout=1&poll_ms=50&level=ERROR&last_id=0")
    events = [(e.id, e.event, e.data) for e in parse_events(response.body.splitlines(keepends=True))]
    assert events[0] == ("0", "message", "")
    assert events[-1] == (str(newest), "message", "")
    assert [event for event in events if event[1] == "record"] == []


def test_stream_accepts_the_token_cookie_of_the_web_ui(
    make_app: Callable[..., webtest.TestApp], sqlite_url: str
) -> None:
    app = make_app(sqlite_url, tokens="ui:reader:rd,app:writer:wr")
    app.set_cookie(stream.TOKEN_COOKIE, "r%64")  # URL-encoded, as the UI sets it
    response = app.get(f"/api/v1/stream/{SCOPE}?timeout=0")
    assert (response.status_int, response.content_type) == (200, "text/event-stream")


def test_the_token_cookie_is_only_accepted_on_a_scoped_path(
    make_app: Callable[..., webtest.TestApp], sqlite_url: str
) -> None:
    # Cookies are not kept apart by port: on /api/v1/stream, any service of the host gets it.
    app = make_app(sqlite_url, tokens="ui:reader:rd")
    app.set_cookie(stream.TOKEN_COOKIE, "rd")
    assert app.get("/api/v1/stream?timeout=0", status="*").status_int == 401
    assert app.get("/api/v1/stream/not-a-scope?timeout=0", status="*").status_int == 401
    assert app.get(f"/api/v1/stream/{SCOPE}?timeout=0").status_int == 200


def test_the_openapi_document_describes_the_stream_cookie(
    make_app: Callable[..., webtest.TestApp], sqlite_url: str
) -> None:
    app = make_app(sqlite_url, tokens="ui:reader:rd")
    document = app.get("/api/v1/openapi.json").json
    assert {"cookie": []} in document["paths"]["/api/v1/stream/{scope}"]["get"]["security"]
    assert {"cookie": []} not in document["paths"]["/api/v1/stream"]["get"]["security"]
    scheme = document["components"]["securitySchemes"]["cookie"]
    assert scheme["in"] == "cookie"
    app.set_cookie(scheme["name"], "rd")
    assert app.get(f"/api/v1/stream/{SCOPE}?timeout=0").status_int == 200


def test_token_cookie_opens_no_other_endpoint(
    make_app: Callable[..., webtest.TestApp], sqlite_url: str
) -> None:
    app = make_app(sqlite_url, tokens="ui:reader:rd")
    app.set_cookie(stream.TOKEN_COOKIE, "rd")
    assert app.get("/api/v1/record", status="*").status_int == 401


def test_stream_refuses_a_wrong_token_cookie(
    make_app: Callable[..., webtest.TestApp], sqlite_url: str
) -> None:
    app = make_app(sqlite_url, tokens="ui:reader:rd")
    app.set_cookie(stream.TOKEN_COOKIE, "wrong")
    assert app.get(f"/api/v1/stream/{SCOPE}?timeout=0", status="*").json["type"] == "unauthorized"


def _feed(collector: Collector, service: str, stop: threading.Event) -> None:
    number = 0
    while not stop.is_set() and number < 200:
        collector.post(wire(f"line {number}", service=service, created=time.time()))
        number += 1
        time.sleep(0.1)


def _tail(collector: Collector, *args: str) -> list[dict[str, object]]:
    stop = threading.Event()
    feeder = threading.Thread(target=_feed, args=(collector, args[-1].split("=")[1], stop))
    process = subprocess.Popen(
        [SCRIPT, "tail", "--json", "--timeout", "20", *args],
        env=collector.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    feeder.start()
    try:
        stdout, stderr = process.communicate(timeout=30)
    finally:
        stop.set()
        feeder.join()
    assert process.returncode == 0, stderr
    return [json.loads(line) for line in stdout.splitlines()]


def test_tail_prints_records_stored_while_it_runs(collector: Collector) -> None:
    records = _tail(collector, "--max", "3", "--query", "service=tailed")
    numbers = [int(str(r["message"]).split()[1]) for r in records]
    assert len(numbers) == 3
    assert numbers == list(range(numbers[0], numbers[0] + 3))


def test_tail_reconnects_without_losing_or_repeating_records(collector: Collector) -> None:
    records = _tail(collector, "--max", "25", "--server-timeout", "1", "--query", "service=reconnected")
    numbers = [int(str(r["message"]).split()[1]) for r in records]
    # 25 records at 10 per second span two server-side ends of the response (1 s each).
    assert numbers == list(range(numbers[0], numbers[0] + 25))
