from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator

import pytest

from c2cwsgiutils.acceptance import approx, retry_timeout, wait_url
from tests.helpers import free_port


class _Status(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[str, type[_Status]]]:
    handler = type("Handler", (_Status,), {"status": 503})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/", handler
    httpd.shutdown()
    httpd.server_close()


def test_wait_url_returns_once_the_status_is_reached(server: tuple[str, type[_Status]]) -> None:
    url, handler = server
    threading.Timer(0.3, lambda: setattr(handler, "status", 200)).start()
    wait_url(url, timeout=5, interval=0.05)


def test_wait_url_times_out_with_the_last_status(server: tuple[str, type[_Status]]) -> None:
    with pytest.raises(TimeoutError, match="last: status 503"):
        wait_url(server[0], timeout=0.5, interval=0.05)


def test_wait_url_reports_connection_errors() -> None:
    with pytest.raises(TimeoutError, match=r"ConnectionRefusedError|URLError"):
        wait_url(f"http://127.0.0.1:{free_port()}/", timeout=0.3, interval=0.05)


def test_retry_timeout_retries_until_success() -> None:
    calls = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise ValueError("not yet")
        return "done"

    assert retry_timeout(flaky, timeout=5, interval=0.01) == "done"
    assert len(calls) == 3


def test_retry_timeout_reraises_the_last_error() -> None:
    start = time.monotonic()
    with pytest.raises(ValueError, match="never"):
        retry_timeout(lambda: (_ for _ in ()).throw(ValueError("never")), timeout=0.2, interval=0.05)
    assert time.monotonic() - start < 2


def test_approx_recurses_into_json() -> None:
    assert approx({"a": [1, {"b": 2.0000000001}], "c": "x"}) == {"a": [1.0000001, {"b": 2}], "c": "x"}
    assert approx({"a": [1]}) != {"a": [1.1]}
    assert approx({"a": 1}) != {"a": 1, "extra": 2}
    assert approx([1, 2, 3]) != [1, 2]
    assert approx({"a": 1}) != {"a": True}
