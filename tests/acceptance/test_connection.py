from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from c2cwsgiutils.acceptance import Connection, StatusError


class _Recorder(http.server.BaseHTTPRequestHandler):
    seen: list[dict[str, Any]]

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.seen.append(
            {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body}
        )
        status = 404 if "missing" in self.path else 204 if self.command == "DELETE" else 200
        payload = (
            b"" if status == 204 else json.dumps({"method": self.command, "body": body.decode()}).encode()
        )
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Cache-Control", "no-cache")
        if self.headers.get("Origin") == "https://good.example":
            self.send_header("Access-Control-Allow-Origin", "https://good.example")
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    seen: list[dict[str, Any]] = []
    handler = type("Handler", (_Recorder,), {"seen": seen})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/api", seen
    httpd.shutdown()
    httpd.server_close()


def test_every_call_sends_a_fresh_request_id(server: tuple[str, list[dict[str, Any]]]) -> None:
    url, seen = server
    with Connection(url) as connection:
        connection.get("hello")
        first = connection.last_request_id
        connection.get("hello")
    assert [s["headers"]["X-Request-ID"] for s in seen] == [first, connection.last_request_id]
    assert first.startswith("acceptance-")
    assert first != connection.last_request_id


def test_paths_are_relative_to_the_base_url(server: tuple[str, list[dict[str, Any]]]) -> None:
    url, seen = server
    with Connection(url) as connection:
        connection.get("hello?x=1")
    assert seen[0]["path"] == "/api/hello?x=1"


def test_json_verbs_send_and_decode_json(server: tuple[str, list[dict[str, Any]]]) -> None:
    url, _ = server
    with Connection(url) as connection:
        assert connection.post_json("items", json={"a": 1}) == {"method": "POST", "body": '{"a": 1}'}
        assert connection.put_json("items/1", json={"b": 2})["method"] == "PUT"
        assert connection.patch_json("items/1", json={"c": 3})["method"] == "PATCH"
        assert connection.get_json("items") == {"method": "GET", "body": ""}
        assert connection.delete("items/1").status_code == 204
        assert connection.options("items").status_code == 200


def test_unexpected_status_fails_with_body_and_request_id(server: tuple[str, list[dict[str, Any]]]) -> None:
    url, _ = server
    with Connection(url) as connection, pytest.raises(StatusError) as error:
        connection.get("missing")
    message = str(error.value)
    assert "answered 404, expected 200" in message
    assert connection.last_request_id in message
    assert '"method": "GET"' in message


def test_expected_error_status_passes(server: tuple[str, list[dict[str, Any]]]) -> None:
    url, _ = server
    with Connection(url) as connection:
        assert connection.get_json("missing", expected_status=404)["method"] == "GET"


def test_cors_is_checked_when_an_origin_is_given(server: tuple[str, list[dict[str, Any]]]) -> None:
    url, seen = server
    with Connection(url, origin="https://good.example") as good:
        good.get("hello")
    assert seen[0]["headers"]["Origin"] == "https://good.example"
    with Connection(url, origin="https://evil.example") as evil, pytest.raises(AssertionError, match="CORS"):
        evil.get("hello")


def test_cache_control_is_checked_on_demand(server: tuple[str, list[dict[str, Any]]]) -> None:
    url, _ = server
    with Connection(url) as connection:
        connection.get("hello", cache_control="no-cache")
        with pytest.raises(AssertionError, match="Cache-Control"):
            connection.get("hello", cache_control="max-age=60")


def test_connection_errors_are_retried_then_raised() -> None:
    import requests

    from tests.helpers import free_port

    connection = Connection(f"http://127.0.0.1:{free_port()}/", retries=2, retry_interval=0.01)
    with connection, pytest.raises(requests.ConnectionError):
        connection.get("x")


# ---- 6.x API ---------------------------------------------------------------------------------


def test_6x_positional_expected_status_and_cors_off(server: tuple[str, list[dict[str, Any]]]) -> None:
    from c2cwsgiutils.acceptance.connection import CacheExpected

    url, seen = server
    with Connection(url, origin="https://bad.example") as connection:
        assert connection.get_json("missing", 404, cors=False) == {"method": "GET", "body": ""}
        assert "Origin" not in seen[-1]["headers"]
        assert connection.post("items", 200, None, False, CacheExpected.NO, data=b"x") == (
            '{"method": "POST", "body": "x"}'
        )
        assert connection.post_files("items", cors=False, files={"f": ("f.txt", b"data")})["method"] == "POST"


def test_6x_cache_expected_checks_cache_control(server: tuple[str, list[dict[str, Any]]]) -> None:
    from c2cwsgiutils.acceptance.connection import CacheExpected

    url, _ = server
    with Connection(url) as connection:
        connection.get("hello", cache_expected=CacheExpected.NO)
        with pytest.raises(AssertionError, match="max-age"):
            connection.get("hello", cache_expected=CacheExpected.YES)


def test_6x_retry_decorator_calls_again_until_it_works() -> None:
    from c2cwsgiutils.acceptance import retry

    calls: list[int] = []

    @retry(ValueError, tries=3, delay=0.01)
    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise ValueError("not yet")
        return "done"

    assert flaky() == "done"
    assert len(calls) == 3


def test_6x_acceptance_utils_are_aliases() -> None:
    from c2cwsgiutils.acceptance import waiting

    with pytest.warns(DeprecationWarning, match=r"use c2cwsgiutils\.acceptance\.waiting\.wait_url"):
        from c2cwsgiutils.acceptance.utils import wait_url
    assert wait_url is waiting.wait_url


def test_a_json_body_may_still_come_second(server: tuple[str, list[dict[str, Any]]]) -> None:
    url, _ = server
    with Connection(url) as connection:
        assert connection.post_json("items", {"a": 1}, expected_status=200)["body"] == '{"a": 1}'
        assert connection.put_json("items", [1])["body"] == "[1]"
        with pytest.raises(TypeError, match="given twice"):
            connection.patch_json("items", {"a": 1}, json={"b": 2})
