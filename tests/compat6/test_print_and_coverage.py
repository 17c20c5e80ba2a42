"""6.x's MapFish Print helpers (acceptance.print, c2cwsgiutils-test-print) and coverage_setup."""

from __future__ import annotations

import json
import sys
import threading
import types
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from c2cwsgiutils import coverage_setup
from c2cwsgiutils.acceptance.print import PrintConnection
from c2cwsgiutils.scripts import test_print


class _FakePrint(BaseHTTPRequestHandler):
    """Just enough of MapFish Print: two apps, one example each, a report done at the 2nd poll."""

    polls: dict[str, int] = {}
    referrers: list[str] = []

    def _answer(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Cache-Control", "max-age=60")
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self.referrers.append(self.headers.get("Referer", ""))
        path = self.path.removeprefix("/print/")
        if path == "apps.json":
            self._answer(200, json.dumps(["default", "a", "b"]).encode())
        elif path.endswith("/capabilities.json"):
            self._answer(200, b'{"layouts": []}')
        elif path.endswith("/exampleRequest.json"):
            self._answer(200, json.dumps({"sample": json.dumps({"layout": "A4"})}).encode())
        elif path.startswith("status/"):
            ref = path.removeprefix("status/").removesuffix(".json")
            self.polls[ref] = self.polls.get(ref, 0) + 1
            done = self.polls[ref] >= 2
            self._answer(
                200, json.dumps({"done": done, "status": "finished" if done else "running"}).encode()
            )
        elif path.startswith("report/"):
            self._answer(200, b"%PDF-1.4 fake", "application/pdf")
        else:
            self._answer(404, b"{}")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        self.rfile.read(length)
        app = self.path.removeprefix("/print/").split("/")[0]
        self._answer(200, json.dumps({"ref": f"{app}-ref"}).encode())

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def print_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakePrint)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/print/"
    finally:
        server.shutdown()
        server.server_close()


def test_print_connection_prints_an_example_to_a_pdf(print_url: str) -> None:
    print_ = PrintConnection(print_url, origin="http://example.com/")
    print_.wait_ready(timeout=5, app="a")
    assert print_.get_apps() == ["default", "a", "b"]
    examples = print_.get_example_requests("a")
    assert examples == {"sample": {"layout": "A4"}}
    assert print_.get_pdf("a", examples["sample"], timeout=10).content == b"%PDF-1.4 fake"
    assert "http://example.com/" in _FakePrint.referrers


def test_test_print_command_prints_every_app(print_url: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO")
    test_print.main(["--url", print_url, "--timeout", "10"])
    assert [r.getMessage() for r in caplog.records if "bytes" in r.getMessage()] == [
        "a sample: 13 bytes",
        "b sample: 13 bytes",
    ]


def test_coverage_setup_does_nothing_without_coverage_1(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COVERAGE", raising=False)
    monkeypatch.setitem(sys.modules, "coverage", None)  # an import would fail
    coverage_setup.includeme(None)


def test_coverage_setup_starts_coverage_into_the_report_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    started: list[dict[str, Any]] = []

    class Coverage:
        def __init__(self, **kwargs: Any) -> None:
            self.kwargs = kwargs

        def start(self) -> None:
            started.append(self.kwargs)

    monkeypatch.setitem(sys.modules, "coverage", types.SimpleNamespace(Coverage=Coverage))
    monkeypatch.setattr(coverage_setup, "REPORT_DIR", str(tmp_path / "api"))
    monkeypatch.setenv("COVERAGE", "1")
    with pytest.warns(DeprecationWarning, match=r'use config.include\("c2cwsgiutils.coverage_setup"\)'):
        coverage_setup.init()
    assert started == [
        {
            "data_file": str(tmp_path / "api" / "coverage"),
            "data_suffix": True,
            "auto_data": True,
            "branch": True,
        }
    ]
    assert (tmp_path / "api").is_dir()


def test_coverage_setup_without_the_package_warns(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "coverage", None)
    monkeypatch.setenv("COVERAGE", "1")
    coverage_setup.includeme(None)
    assert "'coverage' package is not installed" in caplog.text
