"""The collector web UI end to end: a real collector, real ingestion, headless Debian Chromium.

Playwright drives ``/usr/bin/chromium`` (never a downloaded browser). Screenshots go to
``test-artifacts/ui/``. Every test fails on a console error or an uncaught page error.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.collector.browser import CHROMIUM, chromium
from tests.collector.records import ndjson, wire
from tests.collector.serve import serve_collector

sync_api = pytest.importorskip("playwright.sync_api")

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "ui"
XSS = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'
TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "/app/views.py", line 12, in checkout\n'
    "    charge(order)\n"
    '  File "/app/billing.py", line 40, in charge\n'
    "    raise PaymentError(order.id)\n"
    "billing.PaymentError: 42"
)

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is missing (make browser)")


def _post(port: int, body: bytes, token: str = "") -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Content-Type": "application/x-ndjson"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    connection.request("POST", "/api/v1/record", body, headers)
    response = connection.getresponse()
    assert response.status == 201, response.read()
    response.read()
    connection.close()


def _records(now: float) -> list[dict[str, Any]]:
    web = {"service": "shop", "host": "web-1", "kind": "web", "request_id": "req-checkout", "trace_id": "t1"}
    worker = {"service": "worker", "host": "worker-1", "kind": "celery", "request_id": "req-checkout"}
    worker.update(trace_id="t1", task_id="task-7")
    base = now - 120
    records = [
        wire("GET /checkout started", created=base, logger_name="shop.views", span_id="root", **web),
        wire(
            "SELECT * FROM orders WHERE id = %s",
            created=base + 0.05,
            logger_name="sqlalchemy.engine",
            level_name="DEBUG",
            levelno=10,
            span_id="root",
            statement="SELECT * FROM orders WHERE id = 42",
            duration_ms=12.5,
            **web,
        ),
        wire(
            "task charge started",
            created=base + 0.2,
            logger_name="shop.tasks",
            span_id="task",
            parent_span_id="root",
            **worker,
        ),
        wire(
            "card declined, retrying",
            created=base + 0.6,
            logger_name="shop.tasks",
            level_name="WARNING",
            levelno=30,
            span_id="task",
            parent_span_id="root",
            **worker,
        ),
        wire(
            "payment failed",
            created=base + 0.9,
            logger_name="shop.billing",
            level_name="ERROR",
            levelno=40,
            span_id="root",
            exception=TRACEBACK,
            order={"id": 42, "items": [{"sku": "A-1", "qty": 2}], "paid": False},
            **web,
        ),
        wire(XSS, created=base + 2, logger_name="shop.views", service="shop", host="web-1"),
    ]
    # Background noise, 40 to 50 minutes ago, for the timeline.
    for index in range(20):
        records.append(
            wire(
                f"heartbeat {index}",
                created=now - 3000 + index * 30,
                logger_name="worker.beat",
                service="worker",
                level_name="DEBUG" if index % 2 else "INFO",
                levelno=10 if index % 2 else 20,
            )
        )
    return records


def _serve(directory: Path, env: dict[str, str] | None = None) -> contextlib.AbstractContextManager[int]:
    return serve_collector(directory, "--workers", "1", env=env)


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A collector (``c2cwsgiutils-logs serve``) on SQLite, loaded through the ingestion API."""
    with _serve(tmp_path_factory.mktemp("ui")) as port:
        _post(port, ndjson(*_records(time.time())))
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium for the module."""
    with chromium() as instance:
        yield instance


class Page:
    """A page plus the console errors and page errors it produced."""

    def __init__(self, browser: Any, base: str) -> None:
        self.context = browser.new_context(viewport={"width": 1400, "height": 900}, timezone_id="UTC")
        self.page = self.context.new_page()
        self.base = base
        self.errors: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))

    def _console(self, message: Any) -> None:
        if message.type in ("error", "warning"):
            self.errors.append(message.text)

    def open(self, query: str = "") -> Any:
        self.page.goto(f"{self.base}/{query}")
        self.page.wait_for_selector("#records tbody tr")
        return self.page

    def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=False)


@pytest.fixture
def ui(browser: Any, collector: str) -> Iterator[Page]:
    page = Page(browser, collector)
    yield page
    page.context.close()
    assert page.errors == []


def _wait_rows(page: Any, count: int) -> None:
    """Wait until the table holds ``count`` rows (a locator wait: the page's CSP forbids eval)."""
    sync_api.expect(page.locator("#records tbody tr")).to_have_count(count)


def _messages(page: Any) -> list[str]:
    return [str(text) for text in page.locator("#records tbody td.msg").all_inner_texts()]


def test_page_is_served_with_a_strict_csp(collector: str) -> None:
    host, port = collector.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    connection.request("GET", "/")
    response = connection.getresponse()
    body = response.read()
    connection.close()
    csp = response.headers["Content-Security-Policy"]
    assert response.status == 200
    assert b'<script type="module" src="ui/app.js">' in body
    assert "default-src 'none'" in csp
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp


def test_table_lists_records_newest_first_and_shows_markup_as_text(ui: Page) -> None:
    page = ui.open()
    ui.shot("table")
    messages = _messages(page)
    assert messages[0] == XSS
    assert messages[1] == "payment failed"
    assert len(messages) == 26
    assert page.evaluate("window.__xss") is None
    assert page.locator("#records img").count() == 0
    assert page.locator("#count").inner_text() == "26 records"
    page.locator("#records tbody tr").first.click()
    message = page.locator("#panel tr[data-field=message] td")
    sync_api.expect(message).to_have_text(XSS)
    assert page.locator("#panel img, #panel script").count() == 0
    assert page.evaluate("window.__xss") is None


def test_static_code_never_builds_html_from_strings() -> None:
    static = Path(__file__).resolve().parents[2] / "c2cwsgiutils" / "collector" / "http" / "static"
    sources = {path.name: path.read_text(encoding="utf-8") for path in static.glob("*.js")}
    assert set(sources) >= {"app.js", "dom.js", "detail.js", "timeline.js"}
    sinks = ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function")
    for name, source in sources.items():
        for sink in sinks:
            assert sink not in source, f"{name} uses {sink}"


def test_filter_language_search_narrows_the_table_and_goes_into_the_url(ui: Page) -> None:
    page = ui.open()
    page.keyboard.press("/")
    page.keyboard.type("service = worker AND name : shop")
    page.keyboard.press("Enter")
    _wait_rows(page, 2)
    assert _messages(page) == ["card declined, retrying", "task charge started"]
    assert "q=service+%3D+worker+AND+name+%3A+shop" in page.url


def test_syntax_error_is_shown_inline_with_its_position(browser: Any, collector: str) -> None:
    ui = Page(browser, collector)
    try:
        page = ui.open()
        page.fill("#q", 'level >= WARNING AND message ~ "oops')
        page.press("#q", "Enter")
        error = page.locator("#q-error")
        error.wait_for(state="visible")
        ui.shot("syntax-error")
        lines = error.inner_text().split("\n")
        assert lines[0] == 'level >= WARNING AND message ~ "oops'
        assert "unterminated string" in lines[1]
        assert page.locator("#records tbody tr").count() == 0
        assert lines[1].index("^") == int(re.findall(r"position (\d+)", lines[1])[0])
    finally:
        ui.context.close()
    # The browser reports the API's 400 answer itself; nothing else may appear.
    assert all("status of 400" in text for text in ui.errors), ui.errors


def test_level_filter_keeps_warnings_and_above(ui: Page) -> None:
    page = ui.open()
    page.select_option("#level", "WARNING")
    _wait_rows(page, 2)
    assert _messages(page) == ["payment failed", "card declined, retrying"]
    assert "level=WARNING" in page.url


def test_shared_link_reproduces_the_view(ui: Page) -> None:
    page = ui.open("?q=name%20%3A%20worker&range=1h&level=INFO")
    _wait_rows(page, 10)
    assert page.input_value("#q") == "name : worker"
    assert page.input_value("#range") == "1h"
    assert page.input_value("#level") == "INFO"
    assert all(text.startswith("heartbeat") for text in _messages(page))


def test_record_panel_shows_fields_traceback_and_json_tree(ui: Page) -> None:
    page = ui.open()
    page.locator("#records tbody tr", has_text="payment failed").click()
    panel = page.locator("#panel")
    panel.locator("pre.traceback").wait_for()
    ui.shot("record-panel")
    assert panel.locator("tr[data-field=service] td").inner_text() == "shop"
    assert panel.locator("tr[data-field=level_name] td").inner_text() == "ERROR"
    assert panel.locator(".tb-error").inner_text() == "billing.PaymentError: 42"
    assert panel.locator(".tb-frame").count() == 2
    tree = panel.locator("tr[data-field='data.order'] ul.json")
    assert "sku" in tree.inner_text()
    assert '"A-1"' in tree.inner_text()
    assert "record=" in page.url
    page.keyboard.press("Escape")
    assert panel.is_hidden()


def test_request_view_shows_the_span_tree_with_its_records(ui: Page) -> None:
    page = ui.open()
    page.locator("#records tbody tr", has_text="payment failed").locator("a.rid").click()
    view = page.locator("#request-view")
    view.locator("table.waterfall tr").first.wait_for()
    ui.shot("request-view")
    page.keyboard.press("t")
    ui.shot("request-view-other-theme")
    rows = view.locator("table.waterfall tr")
    texts = [" ".join(text.split()) for text in rows.all_inner_texts()]
    assert [text.split(" ")[:2] for text in texts] == [
        ["web", "shop"],
        ["INFO", "shop.views"],
        ["SQL", "DEBUG"],
        ["celery", "worker"],
        ["task", "INFO"],
        ["task", "WARNING"],
        ["ERROR", "shop.billing"],
    ]
    assert "GET /checkout started" in texts[1]
    assert "card declined" in texts[5]
    assert "request=req-checkout" in page.url
    # Durations to scale: the task span starts after the root span and is narrower.
    root_bar = view.locator("tr[data-span=root] .sbar").bounding_box()
    task_bar = view.locator("tr[data-span=task] .sbar").bounding_box()
    assert root_bar
    assert task_bar
    assert task_bar["x"] > root_bar["x"]
    assert task_bar["width"] < root_bar["width"]
    rows.nth(6).click()
    page.locator("#panel pre.traceback").wait_for()
    # The record panel opens above the request view (a click reaches it, not the waterfall).
    page.locator("#panel button.close").click()
    sync_api.expect(page.locator("#panel")).to_be_hidden()
    sync_api.expect(view).to_be_visible()
    page.keyboard.press("Escape")
    sync_api.expect(view).to_be_hidden()


def test_dragging_on_the_timeline_zooms_the_time_range(ui: Page) -> None:
    page = ui.open("?range=1h")
    page.locator("#timeline rect.bar").first.wait_for()
    box = page.locator("#timeline").bounding_box()
    assert box
    # The noise is 40-50 minutes ago: the left third of the last hour.
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + 2, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.4, y, steps=5)
    page.mouse.up()
    _wait_rows(page, 20)
    ui.shot("zoomed")
    assert "range=custom" in page.url
    assert "from=" in page.url
    assert "to=" in page.url
    assert all(text.startswith("heartbeat") for text in _messages(page))


def test_follow_mode_shows_a_record_ingested_after_page_load(ui: Page, collector: str) -> None:
    page = ui.open()
    page.check("#follow")
    assert "follow=1" in page.url
    port = int(collector.rsplit(":", 1)[1])
    _post(port, ndjson(wire("fresh from follow", created=time.time(), service="shop")))
    page.locator("#records tbody td.msg", has_text="fresh from follow").wait_for(timeout=10_000)
    assert _messages(page)[0] == "fresh from follow"


def test_keyboard_moves_opens_and_closes(ui: Page) -> None:
    page = ui.open()
    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("k")
    page.keyboard.press("j")
    assert page.locator("#records tbody tr.selected td.msg").inner_text() == _messages(page)[1]
    for _ in range(5):
        if page.locator("#records tbody tr.selected td.msg").inner_text() == "payment failed":
            break
        page.keyboard.press("j")
    page.keyboard.press("Enter")
    page.locator("#panel pre.traceback").wait_for()
    page.keyboard.press("Escape")
    assert page.locator("#panel").is_hidden()
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "q"


def test_theme_toggle_switches_between_dark_and_light(ui: Page) -> None:
    page = ui.open()
    page.emulate_media(color_scheme="light")
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    page.click("#theme")
    assert page.evaluate("document.documentElement.dataset.theme") == "dark"
    dark = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert dark != background
    ui.shot("dark")
    page.reload()
    page.wait_for_selector("#records tbody tr")
    assert page.evaluate("document.documentElement.dataset.theme") == "dark"
    page.click("#theme")
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == background


def test_unknown_asset_is_a_json_404(collector: str) -> None:
    host, port = collector.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    connection.request("GET", "/ui/nope.js")
    response = connection.getresponse()
    body = json.loads(response.read())
    connection.close()
    assert response.status == 404
    assert body["type"] == "not_found"


def test_older_and_newer_pages_walk_records_sharing_one_timestamp(ui: Page, collector: str) -> None:
    # 130 records at the same microsecond and 100 just before: keyset paging must skip exactly.
    stamp = time.time() - 5000
    batch = [wire(f"bulk same {index:03d}", created=stamp, logger_name="bulk") for index in range(130)]
    batch += [
        wire(f"bulk before {index:03d}", created=stamp - 1 - index / 1000, logger_name="bulk")
        for index in range(100)
    ]
    _post(int(collector.rsplit(":", 1)[1]), ndjson(*batch))
    page = ui.open("?q=name%20%3D%20bulk&range=all")
    _wait_rows(page, 100)
    seen = list(_messages(page))
    page.click("#older")
    sync_api.expect(page.locator("#page-info")).to_have_text("101\N{EN DASH}200")
    seen += _messages(page)
    page.keyboard.press("]")
    sync_api.expect(page.locator("#page-info")).to_have_text("201\N{EN DASH}230")
    seen += _messages(page)
    assert len(seen) == 230
    assert len(set(seen)) == 230
    assert "before=" in page.url
    assert "skip=" in page.url
    page.keyboard.press("[")
    sync_api.expect(page.locator("#page-info")).to_have_text("101\N{EN DASH}200")
    page.click("#newest")
    sync_api.expect(page.locator("#page-info")).to_have_text("1\N{EN DASH}100")


def test_page_asks_for_a_token_when_the_collector_requires_one(
    browser: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    tokens = {"C2C_COLLECTOR_TOKENS": "app:writer:wr,ui:reader:rd"}
    with _serve(tmp_path_factory.mktemp("ui-auth"), tokens) as port:
        _post(port, ndjson(wire("behind a token", created=time.time())), token="wr")
        ui = Page(browser, f"http://127.0.0.1:{port}")
        try:
            ui.page.goto(f"{ui.base}/")
            ui.page.locator("#auth").wait_for(state="visible")
            ui.page.fill("#auth-token", "rd")
            ui.page.press("#auth-token", "Enter")
            ui.page.locator("#records tbody td.msg", has_text="behind a token").wait_for()
            assert ui.page.evaluate("sessionStorage.getItem('c2c-collector-token')") == "rd"
        finally:
            ui.context.close()
    # The browser reports the first 401 answers itself; nothing else may appear.
    assert all("status of 401" in text for text in ui.errors), ui.errors


def test_request_view_survives_a_span_cycle_and_a_chain_10000_deep(browser: Any, tmp_path: Path) -> None:
    now = time.time() - 60
    hostile = {"request_id": "req-hostile", "service": "evil"}
    records = [wire("cycle a", created=now, span_id="a", parent_span_id="b", **hostile)]
    records.append(wire("cycle b", created=now, span_id="b", parent_span_id="a", **hostile))
    records.append(wire("chain 0", created=now, span_id="s0", **hostile))
    records += [
        wire(f"chain {i}", created=now + i / 1e4, span_id=f"s{i}", parent_span_id=f"s{i - 1}", **hostile)
        for i in range(1, 10_000)
    ]
    with _serve(tmp_path, env={"C2C_COLLECTOR_MAX_PAGE": "20000"}) as port:
        for start in range(0, len(records), 5000):
            _post(port, ndjson(*records[start : start + 5000]))
        page = Page(browser, f"http://127.0.0.1:{port}")
        try:
            page.page.goto(f"{page.base}/?request=req-hostile")
            view = page.page.locator("#request-view")
            view.locator("table.waterfall tr[data-span=s0]").wait_for(timeout=60_000)
            view.locator("table.waterfall tr[data-span=a]").wait_for()
            view.locator("table.waterfall tr[data-span=s9999]").wait_for()
            assert page.errors == []
        finally:
            page.context.close()
