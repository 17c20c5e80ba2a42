from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
import requests
import urllib3

from c2cwsgiutils import _guard, context, outgoing
from tests.helpers import free_port
from tests.test_spans import Collect

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN_ID = "00f067aa0ba902b7"
SLOW_BODY_SECONDS = 0.3


class Recorder(BaseHTTPRequestHandler):
    """Answers 200 and records the headers of each request; ``/slow`` waits before answering."""

    received: list[dict[str, str]]

    def do_GET(self) -> None:
        self.server.received.append({k.lower(): v for k, v in self.headers.items()})  # type: ignore[attr-defined]
        if self.path == "/slow":
            time.sleep(1.5)
        if self.path == "/slow-body":
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.flush()
            time.sleep(SLOW_BODY_SECONDS)  # the body comes well after the headers
            self.wfile.write(b"ok")
            return
        try:
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")
        except (BrokenPipeError, ConnectionResetError):  # the client timed out, as asked
            pass

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[str, list[dict[str, str]]]]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    httpd.daemon_threads = True
    httpd.received = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", httpd.received  # type: ignore[attr-defined]
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


@pytest.fixture(autouse=True)
def _installed() -> Iterator[None]:
    outgoing.install({})
    yield
    outgoing.uninstall()


def in_request() -> Any:
    return context.bind(request_id="rid-42", trace_id=TRACE_ID, span_id=SPAN_ID, tracestate="k=v")


def assert_propagated(headers: dict[str, str]) -> None:
    assert headers["x-request-id"] == "rid-42"
    version, trace_id, span_id, flags = headers["traceparent"].split("-")
    assert (version, trace_id, flags) == ("00", TRACE_ID, "03")  # sampled, random trace id
    assert span_id != SPAN_ID
    assert len(span_id) == 16
    assert headers["tracestate"] == "k=v"


def test_requests_carries_the_ids(server: tuple[str, list[dict[str, str]]]) -> None:
    url, received = server
    with in_request():
        requests.get(url, timeout=5)
    assert_propagated(received[0])


def test_requests_session_carries_the_ids(server: tuple[str, list[dict[str, str]]]) -> None:
    url, received = server
    with in_request(), requests.Session() as session:
        session.get(url, timeout=5)
    assert_propagated(received[0])


def test_each_call_is_a_new_child_span(server: tuple[str, list[dict[str, str]]]) -> None:
    url, received = server
    with in_request():
        requests.get(url, timeout=5)
        requests.get(url, timeout=5)
    assert received[0]["traceparent"] != received[1]["traceparent"]


def test_headers_set_by_the_caller_are_kept(server: tuple[str, list[dict[str, str]]]) -> None:
    url, received = server
    with in_request():
        requests.get(url, headers={"x-request-id": "mine"}, timeout=5)
    assert received[0]["x-request-id"] == "mine"


def test_nothing_is_added_outside_a_request(server: tuple[str, list[dict[str, str]]]) -> None:
    url, received = server
    requests.get(url, timeout=5)
    urllib3.PoolManager().request("GET", url)
    assert all("x-request-id" not in headers and "traceparent" not in headers for headers in received)


def test_urllib3_carries_the_ids(server: tuple[str, list[dict[str, str]]]) -> None:
    url, received = server
    with in_request():
        urllib3.PoolManager().request("GET", url)
    assert_propagated(received[0])


def test_urllib3_does_not_modify_the_pool_headers(server: tuple[str, list[dict[str, str]]]) -> None:
    url, received = server
    pool = urllib3.HTTPConnectionPool("127.0.0.1", int(url.rsplit(":", 1)[1]), headers={"X-Pool": "1"})
    with in_request():
        pool.request("GET", "/")
    assert pool.headers == {"X-Pool": "1"}
    assert received[0]["x-pool"] == "1"
    assert received[0]["x-request-id"] == "rid-42"


def test_httpx_carries_the_ids(server: tuple[str, list[dict[str, str]]]) -> None:
    url, received = server
    with in_request(), httpx.Client() as client:
        client.get(url)
    assert_propagated(received[0])


def test_httpx_async_carries_the_ids(server: tuple[str, list[dict[str, str]]]) -> None:
    url, received = server

    async def call() -> None:
        async with httpx.AsyncClient() as client:
            await client.get(url)

    with in_request():
        asyncio.run(call())
    assert_propagated(received[0])


def test_requests_gets_the_default_timeout(server: tuple[str, list[dict[str, str]]]) -> None:
    outgoing.install({"c2c.requests_default_timeout": "0.2"})
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(server[0] + "/slow")


def test_urllib3_gets_the_default_timeout(server: tuple[str, list[dict[str, str]]]) -> None:
    outgoing.install({"c2c.requests_default_timeout": "0.2"})
    with pytest.raises(urllib3.exceptions.MaxRetryError):
        urllib3.PoolManager(retries=urllib3.Retry(0, read=0)).request("GET", server[0] + "/slow")


def test_an_explicit_timeout_wins_over_the_default(server: tuple[str, list[dict[str, str]]]) -> None:
    outgoing.install({"c2c.requests_default_timeout": "0.2"})
    assert requests.get(server[0] + "/slow", timeout=10).text == "ok"


def test_install_is_idempotent() -> None:
    from requests.adapters import HTTPAdapter

    patched = HTTPAdapter.send
    outgoing.install({})
    assert HTTPAdapter.send is patched
    assert outgoing.installed()


def test_uninstall_restores_the_libraries() -> None:
    from requests.adapters import HTTPAdapter

    outgoing.uninstall()
    assert HTTPAdapter.send.__module__ == "requests.adapters"


def test_the_request_tracking_include_installs_it(server: tuple[str, list[dict[str, str]]]) -> None:
    import webtest
    from pyramid.config import Configurator

    outgoing.uninstall()
    url, received = server

    def call_out(request: Any) -> dict[str, str]:
        requests.get(url, timeout=5)
        return {"id": request.c2c_request_id}

    configurator = Configurator(settings={})
    configurator.include("c2cwsgiutils.request_tracking")
    configurator.add_route("out", "/out")
    configurator.add_view(call_out, route_name="out", renderer="json")
    app = webtest.TestApp(configurator.make_wsgi_app())
    app.get("/out", headers={"X-Request-ID": "through-pyramid"})
    assert received[0]["x-request-id"] == "through-pyramid"


@pytest.fixture
def span_events() -> Iterator[Collect]:
    logger = logging.getLogger("c2cwsgiutils.spans")
    handler = Collect()
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


def _client_spans(events: Collect) -> list[dict[str, object]]:
    return [event for event in events.events if event["span_name"] == outgoing.CLIENT_SPAN]


def test_the_traceparent_sent_names_the_client_span(
    server: tuple[str, list[dict[str, str]]], span_events: Collect
) -> None:
    url, received = server
    with in_request():
        requests.get(url + "/path?token=abc&x=1", timeout=5)
    (client,) = _client_spans(span_events)
    assert received[0]["traceparent"] == f"00-{TRACE_ID}-{client['span_id']}-03"
    assert (client["parent_span_id"], client["url"], client["status_code"]) == (
        SPAN_ID,
        url + "/path?token=***&x=1",
        200,
    )


def test_a_refused_connection_marks_the_client_span_failed(span_events: Collect) -> None:
    port = free_port()
    with in_request(), pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/", timeout=5)
    (client,) = _client_spans(span_events)
    assert (client["status"], client["error_type"]) == ("error", "ConnectionError")
    assert client["error_message"]


def test_a_bug_in_our_hook_is_logged_once_and_the_call_goes_on(
    server: tuple[str, list[dict[str, str]]],
    span_events: Collect,
    monkeypatch: pytest.MonkeyPatch,
    caplog: Any,
) -> None:
    url, received = server

    def broken(url: str) -> str:
        raise RuntimeError("a bug of ours")

    monkeypatch.setattr(outgoing, "redact_url", broken)
    _guard.reset()
    with in_request():
        assert requests.get(url, timeout=5).status_code == 200
        assert httpx.get(url, timeout=5).status_code == 200
        assert context.current().span_path == ""  # no span left open
    assert len(received) == 2
    errors = [record for record in caplog.records if record.name == "c2cwsgiutils.outgoing"]
    assert len(errors) == 1
    assert "a bug of ours" in str(errors[0].exc_info[1])


def test_a_requests_client_span_lasts_until_the_body_is_read(
    server: tuple[str, list[dict[str, str]]], span_events: Collect
) -> None:
    url, received = server
    with in_request():
        assert requests.get(url + "/slow-body", timeout=5).text == "ok"
    (client,) = _client_spans(span_events)
    assert isinstance(client["duration_ms"], float)
    assert client["duration_ms"] >= SLOW_BODY_SECONDS * 1000
    assert received[0]["traceparent"] == f"00-{TRACE_ID}-{client['span_id']}-03"


@pytest.mark.parametrize("library", ["requests", "requests-session", "urllib3", "httpx", "httpx-async"])
def test_a_bug_in_our_header_code_never_breaks_the_call(
    server: tuple[str, list[dict[str, str]]],
    span_events: Collect,
    monkeypatch: pytest.MonkeyPatch,
    caplog: Any,
    library: str,
) -> None:
    url, received = server

    def broken(headers: object, extra: object) -> None:
        raise RuntimeError("a bug of ours")

    monkeypatch.setattr(outgoing, "_add_missing", broken)
    _guard.reset()

    def call() -> int:
        if library == "requests":
            return requests.get(url, timeout=5).status_code
        if library == "requests-session":
            with requests.Session() as session:
                return session.get(url, timeout=5).status_code
        if library == "urllib3":
            with urllib3.PoolManager() as pool:
                return pool.request("GET", url, timeout=5).status
        if library == "httpx":
            return httpx.get(url, timeout=5).status_code

        async def get() -> int:
            async with httpx.AsyncClient() as client:
                return (await client.get(url, timeout=5)).status_code

        return asyncio.run(get())

    with in_request():
        for _ in range(3):
            assert call() == 200
        assert context.current().span_path == ""  # no span left open
    assert len(received) == 3
    errors = [record for record in caplog.records if record.name == "c2cwsgiutils.outgoing"]
    places = [record.args[0] for record in errors]
    assert errors
    assert len(places) == len(set(places))  # once per place, not once per call
    assert all("a bug of ours" in str(record.exc_info[1]) for record in errors)
