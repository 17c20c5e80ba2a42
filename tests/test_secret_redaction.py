"""No secret reaches a log (issue #18): the demo under ``c2cwsgiutils_run`` with gunicorn's access
log, shipping to a real collector; every sink is searched for the secret."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from c2cwsgiutils.redaction import redact_query, redact_url
from tests.collector.serve import serve_collector
from tests.helpers import ROOT, child_env, free_port, stop_process, wait_port

SECRET = "Sekret-4f9a1c"
RUN = Path(sys.executable).parent / "c2cwsgiutils_run"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("/c2c/health_check?secret=abc&max_level=2", "/c2c/health_check?secret=***&max_level=2"),
        ("GET /x?a=1&Secret=abc HTTP/1.1", "GET /x?a=1&Secret=*** HTTP/1.1"),
        ("/x?access_token=t&api_key=k&page=2", "/x?access_token=***&api_key=***&page=2"),
        ("/x?keyword=k&secretary=y", "/x?keyword=k&secretary=***"),
        ("/x?nothing=here", "/x?nothing=here"),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_redact_query_keeps_empty_values() -> None:
    assert redact_query("secret=&x=1") == "secret=&x=1"


def _get(port: int, path: str, headers: dict[str, str] | None = None) -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as error:
        error.read()
        return int(error.code)


def test_an_admin_secret_in_the_query_string_reaches_no_log(tmp_path: Path) -> None:
    collector = tmp_path / "collector"
    collector.mkdir()
    with serve_collector(collector) as cport:
        port = free_port()
        log = tmp_path / "demo.log"
        env = child_env(
            {
                "SQLALCHEMY_URL": f"sqlite:///{tmp_path}/demo.sqlite",
                "C2C_SECRET": SECRET,
                "C2C_COLLECTOR_URL": f"http://127.0.0.1:{cport}",
                "LOG_HANDLERS": "json, text, collector",
            }
        )
        args = [
            str(RUN),
            "--paste",
            str(ROOT / "acceptance_tests/app/production.ini"),
            "--bind",
            f"127.0.0.1:{port}",
        ]
        args += ["--workers", "1", "--no-control-socket", "--access-logfile", "-"]
        with log.open("wb") as output:
            process = subprocess.Popen(
                args, env=env, stdout=output, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True
            )
            try:
                wait_port(port, timeout=60, process=process)
                assert _get(port, f"/c2c/logging/level?secret={SECRET}&name=x") == 200
                assert _get(port, f"/c2c/health_check?secret={SECRET}&max_level=1") in (200, 500)
                assert _get(port, f"/c2c/no-such-view?secret={SECRET}") == 404
                referer = {"Referer": f"http://127.0.0.1:{port}/c2c?secret={SECRET}"}
                assert _get(port, "/c2c/versions.json", referer) in (200, 403, 404)
                assert _get(port, f"/api/hello?x=%FF&secret={SECRET}") == 400
                # Wait until the access lines reached the collector (it stores what it acknowledges).
                deadline = time.monotonic() + 30
                while b"no-such-view" not in _collector_bytes(collector) and time.monotonic() < deadline:
                    time.sleep(0.2)
            finally:
                stop_process(process)
        stored = _collector_bytes(collector)
        assert b"no-such-view" in stored, "the access log did not reach the collector"
        text = log.read_bytes()
        assert b"/c2c/logging/level?secret=***" in text
        assert SECRET.encode() not in text
        assert SECRET.encode() not in stored


def _collector_bytes(directory: Path) -> bytes:
    return b"".join(path.read_bytes() for path in directory.glob("c.sqlite*") if path.is_file())
