"""Sentry: the real sentry_sdk sends its envelopes to a local HTTP server that records them."""

from __future__ import annotations

import gzip
import json
import logging
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import webtest
from pyramid.config import Configurator

from c2cwsgiutils import ConfigError, context, sentry
from tests.helpers import free_port


class EnvelopeServer:
    """Records the events that Sentry clients POST to /api/<project>/envelope/."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.paths: list[str] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                elif self.headers.get("Content-Encoding"):
                    raise AssertionError(f"unexpected encoding {self.headers['Content-Encoding']}")
                recorder.record(self.path, body)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @property
    def dsn(self) -> str:
        return f"http://publickey@127.0.0.1:{self.port}/1"

    def record(self, path: str, body: bytes) -> None:
        self.paths.append(path)
        lines = body.split(b"\n")
        # An envelope: a header line, then (item header, item payload) pairs.
        for header, payload in zip(lines[1::2], lines[2::2], strict=False):
            if json.loads(header).get("type") == "event":
                self.events.append(json.loads(payload))

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def envelopes(monkeypatch: pytest.MonkeyPatch) -> Iterator[EnvelopeServer]:
    for name in (
        "SENTRY_URL",
        "SENTRY_DSN",
        "SENTRY_CLIENT_RELEASE",
        "SENTRY_CLIENT_ENVIRONMENT",
        "GIT_HASH",
    ):
        monkeypatch.delenv(name, raising=False)
    server = EnvelopeServer()
    try:
        yield server
    finally:
        sentry.shutdown()  # flushes, then turns the SDK off so that other tests are unaffected
        server.close()


def request_id_tween_factory(handler: Callable[[Any], Any], registry: Any) -> Callable[[Any], Any]:
    """Stands for the request-tracking tween: the request ID from X-Request-ID, restored afterwards."""

    def tween(request: Any) -> Any:
        with context.bind(request_id=request.headers.get("X-Request-ID", "")):
            return handler(request)

    return tween


def failing_view(request: Any) -> Any:
    raise ValueError("boom in the view")


def logging_view(request: Any) -> dict[str, bool]:
    logging.getLogger("tests.sentry").error("logged failure")
    return {"logged": True}


def make_app(dsn: str, **settings: Any) -> webtest.TestApp:
    config = Configurator(settings={"c2c.sentry.url": dsn, **settings})
    config.include("c2cwsgiutils.sentry")
    config.add_tween("tests.test_sentry.request_id_tween_factory")
    config.add_route("fail", "/fail")
    config.add_view(failing_view, route_name="fail")
    config.add_route("log", "/log")
    config.add_view(logging_view, route_name="log", renderer="json")
    return webtest.TestApp(config.make_wsgi_app())


def test_unhandled_error_reaches_sentry_with_request_id_release_environment_and_tags(
    envelopes: EnvelopeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SENTRY_TAG_FOO", "bar")
    app = make_app(
        envelopes.dsn,
        **{"c2c.sentry.client_release": "1.2.3", "c2c.sentry.client_environment": "integration"},
    )
    with pytest.raises(ValueError, match="boom in the view"):
        app.get("/fail", headers={"X-Request-ID": "req-sentry-1"})
    sentry.shutdown()
    assert envelopes.paths
    assert all(path.startswith("/api/1/envelope/") for path in envelopes.paths)
    [event] = envelopes.events
    assert event["exception"]["values"][-1]["value"] == "boom in the view"
    assert event["tags"]["request_id"] == "req-sentry-1"
    assert event["tags"]["foo"] == "bar"
    assert event["release"] == "1.2.3"
    assert event["environment"] == "integration"


def test_logged_error_reaches_sentry_with_the_request_id(envelopes: EnvelopeServer) -> None:
    app = make_app(envelopes.dsn)
    assert app.get("/log", headers={"X-Request-ID": "req-log-2"}).json == {"logged": True}
    sentry.shutdown()
    [event] = envelopes.events
    assert event["logentry"]["message"] == "logged failure"
    assert event["tags"]["request_id"] == "req-log-2"


def test_error_outside_any_request_has_no_request_id(envelopes: EnvelopeServer) -> None:
    assert sentry.init({"c2c.sentry.url": envelopes.dsn})
    logging.getLogger("tests.sentry").error("outside")
    sentry.shutdown()
    [event] = envelopes.events
    assert "request_id" not in event.get("tags", {})


def test_release_falls_back_to_git_hash_when_latest(
    envelopes: EnvelopeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GIT_HASH", "0123abcd")
    assert sentry.init({"c2c.sentry.url": envelopes.dsn, "c2c.sentry.client_release": "latest"})
    logging.getLogger("tests.sentry").error("with git hash")
    sentry.shutdown()
    assert [event["release"] for event in envelopes.events] == ["0123abcd"]


def test_after_shutdown_nothing_is_sent(envelopes: EnvelopeServer) -> None:
    assert sentry.init({"c2c.sentry.url": envelopes.dsn})
    sentry.shutdown()
    logging.getLogger("tests.sentry").error("after shutdown")
    assert not sentry.is_enabled()
    assert envelopes.events == []


def test_without_sentry_url_sentry_stays_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SENTRY_URL", raising=False)
    assert not sentry.init({})
    assert not sentry.is_enabled()


def test_settings_read_tags_and_release(monkeypatch: pytest.MonkeyPatch) -> None:
    parsed = sentry.SentrySettings.from_settings(
        {"c2c.sentry.url": "http://k@h/1"},
        {"SENTRY_TAG_TEAM": "ops", "SENTRY_TAG_": "ignored", "SENTRY_CLIENT_RELEASE": "2.0", "GIT_HASH": "x"},
    )
    assert parsed.tags == {"team": "ops"}
    assert parsed.release == "2.0"


def test_an_invalid_sample_rate_stops_start_up() -> None:
    with pytest.raises(ConfigError, match="SENTRY_TRACES_SAMPLE_RATE"):
        sentry.init({"c2c.sentry.url": "http://k@127.0.0.1:1/1", "c2c.sentry.traces_sample_rate": "2"})
