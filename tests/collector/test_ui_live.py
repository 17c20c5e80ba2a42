"""Follow mode of the web UI over Server-Sent Events, on a collector and through a relay.

Real collector processes, real ingestion over HTTP, headless Debian Chromium (see test_ui.py).
Screenshots go to ``test-artifacts/ui/``; every test fails on a console error or a page error.
"""

from __future__ import annotations

import contextlib
import re
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.collector.browser import CHROMIUM, chromium
from tests.collector.records import ndjson, wire
from tests.collector.serve import serve_collector
from tests.collector.test_ui import Page, _messages, _post, _wait_rows

sync_api = pytest.importorskip("playwright.sync_api")

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is missing (make browser)")

TOKENS = "app:writer:wr,ui:reader:rd,relay:writer+reader:up"
# Longer than the stream's database poll (0.5 s) plus the page's batching of records (0.15 s).
SETTLE_MS = 2000


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium for the module."""
    with chromium() as instance:
        yield instance


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A collector that requires tokens, holding five records of service ``seed``."""
    env = {"C2C_COLLECTOR_TOKENS": TOKENS}
    with serve_collector(tmp_path_factory.mktemp("live"), "--workers", "1", env=env) as port:
        now = time.time()
        _post(
            port, ndjson(*(wire(f"seed {n}", created=now - 60 + n, service="seed") for n in range(5))), "wr"
        )
        yield port


class Watched(Page):
    """A page that already holds the reader token and notes every request it makes."""

    def __init__(self, browser: Any, base: str, token: str = "") -> None:
        super().__init__(browser, base)
        if token:
            self.context.add_init_script(f"sessionStorage.setItem('c2c-collector-token', '{token}')")
        self.requests: list[tuple[str, str, str]] = []
        self.page.on("request", self._note)

    def _note(self, request: Any) -> None:
        path = urllib.parse.urlsplit(request.url).path
        self.requests.append((request.method, path, request.headers.get("last-event-id", "")))


@contextlib.contextmanager
def _watched(browser: Any, port: int, token: str = "") -> Iterator[Watched]:
    ui = Watched(browser, f"http://127.0.0.1:{port}", token)
    try:
        yield ui
    finally:
        ui.context.close()
    assert ui.errors == []


def _live(page: Any) -> None:
    sync_api.expect(page.locator("label.follow")).to_have_attribute("data-state", "live")


def _records(*messages: str, service: str = "seed") -> bytes:
    now = time.time()
    return ndjson(*(wire(m, created=now + n / 1000, service=service) for n, m in enumerate(messages)))


def test_follow_streams_new_records_without_polling_and_stops_when_turned_off(
    browser: Any, guarded: int
) -> None:
    with _watched(browser, guarded, "rd") as ui:
        page = ui.open("?q=service%20%3D%20seed")
        _wait_rows(page, 5)
        before_follow = len(ui.requests)
        page.check("#follow")
        _live(page)
        cookies = [c for c in ui.context.cookies() if c["name"] == "c2c_collector_token"]
        assert [(c["sameSite"], c["value"]) for c in cookies] == [("Strict", "rd")]
        # A path of its own: 32 random hex digits no other service of the host can guess.
        assert re.fullmatch(r"/api/v1/stream/[0-9a-f]{32}", cookies[0]["path"])
        stream_path = cookies[0]["path"]
        _post(guarded, _records("live one"), "wr")
        page.locator("#records tbody td.msg", has_text="live one").wait_for()
        _post(guarded, _records("live two", "live three"), "wr")
        page.locator("#records tbody td.msg", has_text="live three").wait_for()
        ui.shot("follow-live")
        messages = _messages(page)
        assert messages[:3] == ["live three", "live two", "live one"]
        assert len(messages) == len(set(messages)) == 8
        assert page.locator("#count").inner_text() == "8 records"
        following = ui.requests[before_follow:]
        assert [r for r in following if r[:2] == ("GET", "/api/v1/record")] == []
        assert [r[:2] for r in following if r[1].startswith("/api/v1/stream")] == [("GET", stream_path)]

        page.uncheck("#follow")
        sync_api.expect(page.locator("label.follow")).to_have_attribute("data-state", "")
        assert [c for c in ui.context.cookies() if c["name"] == "c2c_collector_token"] == []
        _post(guarded, _records("after follow off"), "wr")
        page.wait_for_timeout(SETTLE_MS)
        ui.shot("follow-off")
        assert "after follow off" not in _messages(page)
        assert _messages(page)[0] == "live three"


def test_follow_reconnects_without_missing_or_repeating_a_record(browser: Any, guarded: int) -> None:
    with _watched(browser, guarded, "rd") as ui:
        # The server ends each stream response after 1 s (instead of 300 s): the browser reconnects.
        # (Playwright does not show the Last-Event-ID header Chromium adds to a reconnection.)
        streams: list[str] = []

        def shorten(route: Any) -> None:
            streams.append(route.request.url)
            route.continue_(url=f"{route.request.url}&timeout=1")

        ui.page.route("**/api/v1/stream/*", shorten)
        _post(
            guarded, ndjson(wire("reconnect seed", created=time.time() - 30, logger_name="reconnect")), "wr"
        )
        page = ui.open("?q=name%20%3D%20reconnect&range=all")
        page.check("#follow")
        _live(page)
        sent = [f"reconnect {n:02d}" for n in range(12)]
        for message in sent:
            _post(guarded, ndjson(wire(message, created=time.time(), logger_name="reconnect")), "wr")
            page.wait_for_timeout(250)
        page.locator("#records tbody td.msg", has_text=sent[-1]).wait_for()
        page.wait_for_timeout(SETTLE_MS)
        label = page.locator("label.follow")
        assert len(streams) >= 3  # two reconnections at least, each resuming where the last ended
        assert sorted(_messages(page)) == sorted(["reconnect seed", *sent])
        # The page drops a record it already shows: the number of events it got tells repeats apart.
        assert label.get_attribute("title") == "12 records streamed since follow was turned on"


@pytest.fixture(scope="module")
def relayed(guarded: int, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """An open relay (loopback) in front of ``guarded``, reading and writing there as ``relay``."""
    directory: Path = tmp_path_factory.mktemp("live-relay")
    env = {
        "C2C_COLLECTOR_FORWARD_TOKEN": "up",
        "C2C_COLLECTOR_FORWARD_SPOOL_DIR": str(directory / "spool"),
        "C2C_COLLECTOR_FORWARD_BATCH_AGE": "0.05",
    }
    upstream = f"http://127.0.0.1:{guarded}"
    with serve_collector(directory, "--workers", "1", "--forward", upstream, env=env) as port:
        yield port


def test_the_relay_ui_lists_and_follows_the_upstream_records(browser: Any, relayed: int) -> None:
    with _watched(browser, relayed) as ui:
        page = ui.open()
        sync_api.expect(page.locator("#records tbody td.msg", has_text="seed 0")).to_have_count(1)
        page.check("#follow")
        _live(page)
        _post(relayed, _records("through the relay", service="relayed"))
        page.locator("#records tbody td.msg", has_text="through the relay").wait_for()
        ui.shot("relay-follow")
        assert _messages(page)[0] == "through the relay"
