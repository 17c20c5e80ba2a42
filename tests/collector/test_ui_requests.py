"""The requests page and the request view's summary in headless Chromium, on a real collector fed
with the records of real requests (request spans and SQL spans on PostgreSQL)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.collector.browser import CHROMIUM, chromium
from tests.collector.records import wire
from tests.collector.serve import serve_collector
from tests.collector.traffic import REPEATED, make_traffic, post

sync_api = pytest.importorskip("playwright.sync_api")

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "ui"

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is missing (make browser)")


@pytest.fixture(scope="module")
def collector(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    records, ids = make_traffic(pg_url)
    with serve_collector(tmp_path_factory.mktemp("ui-requests"), "--workers", "1") as port:
        post(port, records)
        yield f"http://127.0.0.1:{port}", ids


@pytest.fixture
def errors() -> list[str]:
    """The console and page errors of the test's page (none allowed unless the test takes them)."""
    return []


@pytest.fixture
def page(collector: tuple[str, dict[str, str]], errors: list[str]) -> Iterator[Any]:
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1400, "height": 900}, timezone_id="UTC")
        opened = context.new_page()

        def console(message: Any) -> None:
            if message.type in ("error", "warning"):
                errors.append(message.text)

        opened.on("console", console)
        opened.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
        yield opened
        context.close()
    assert errors == []


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=False)


def test_the_slow_request_is_found_by_sorting_on_duration_and_opens_its_request_view(
    page: Any, collector: tuple[str, dict[str, str]]
) -> None:
    base, ids = collector
    page.goto(f"{base}/requests")
    rows = page.locator("#requests tbody tr")
    sync_api.expect(rows).to_have_count(4)
    page.select_option("#sort", "duration")
    sync_api.expect(rows.first).to_have_attribute("data-request", ids["item"])
    assert "sort=duration" in page.url
    cells = [" ".join(text.split()) for text in rows.first.locator("td").all_inner_texts()]
    assert cells[2:6] == ["200", "GET /items/{id}", "shop", str(REPEATED + 2)]
    routes = page.locator("#routes tbody tr")
    sync_api.expect(routes).to_have_count(3)
    _shot(page, "requests-page")

    rows.first.locator("td.rid a").click()
    view = page.locator("#request-view")
    summary = view.locator(".request-summary")
    summary.wait_for()
    assert f"request={ids['item']}" in page.url
    assert " ".join(summary.locator("[data-fact=sql]").inner_text().split()).startswith(
        f"{REPEATED + 2} SQL statements"
    )
    repeated = summary.locator(".repeated-list .flag")
    sync_api.expect(repeated).to_have_count(1)
    assert f"N+1 \N{MULTIPLICATION SIGN}{REPEATED}" in repeated.inner_text()
    assert "SELECT ? AS price WHERE ? = ?" in repeated.inner_text()
    assert "SELECT pg_sleep(?)" in summary.locator(".slowest-list").inner_text()
    root = view.locator("table.waterfall tr.span-row").first
    assert "GET /items/{id} 200" in root.inner_text()
    slow = view.locator("table.waterfall tr.span-row.slow", has_text="SELECT pg_sleep(?)")
    sync_api.expect(slow).to_have_count(1)
    sync_api.expect(view.locator("table.waterfall tr.span-row.repeated")).to_have_count(REPEATED)
    # No hex ids as labels, and the span events are not listed again under their own spans.
    assert view.locator("table.waterfall tr.rec-row", has_text="span sql ok in").count() == 0
    _shot(page, "request-view-summary")
    # The N+1 flag leads to the first of its spans.
    repeated.locator("button.link").click()
    sync_api.expect(view.locator("tr.span-row.focus")).to_have_count(1)


def test_requests_filter_by_status_and_route_from_the_url(
    page: Any, collector: tuple[str, dict[str, str]]
) -> None:
    base, ids = collector
    page.goto(f"{base}/requests?status=5xx")
    rows = page.locator("#requests tbody tr")
    sync_api.expect(rows).to_have_count(1)
    sync_api.expect(rows.first).to_have_attribute("data-request", ids["fail"])
    assert page.input_value("#status") == "5xx"
    page.fill("#status", "")
    page.fill("#route", "fast")
    page.click("#apply")
    sync_api.expect(rows).to_have_count(2)
    assert "route=fast" in page.url


def test_a_bad_filter_is_shown_with_the_parameter_it_names(
    page: Any, collector: tuple[str, dict[str, str]], errors: list[str]
) -> None:
    base, _ = collector
    page.goto(f"{base}/requests?status=teapot")
    error = page.locator("#req-error")
    error.wait_for(state="visible")
    assert error.inner_text().startswith("status:")
    # The browser reports the API's 400 answers itself; nothing else may appear.
    assert errors
    assert all("status of 400" in text for text in errors), errors
    errors.clear()


def test_the_critical_path_is_drawn_with_its_legend(page: Any, collector: tuple[str, dict[str, str]]) -> None:
    base, ids = collector
    page.goto(f"{base}/?request={ids['item']}")
    view = page.locator("#request-view")
    legend = view.locator(".critical-list")
    legend.wait_for()
    # The statements run one after the other: each is on the path, the slow one holds it longest.
    assert legend.inner_text().startswith(f"Critical path: {REPEATED + 3} spans")
    assert "SELECT pg_sleep(?)" in legend.locator(".flag").first.inner_text()
    critical = view.locator("table.waterfall tr.span-row.critical")
    sync_api.expect(critical).to_have_count(REPEATED + 3)
    slow = view.locator("tr.span-row.critical", has_text="SELECT pg_sleep(?)")
    sync_api.expect(slow.locator(".tag.critical")).to_have_count(1)
    mark = slow.locator(".cpath").bounding_box()
    bar = slow.locator(".sbar").bounding_box()
    assert mark
    assert bar
    assert mark["width"] > bar["width"] * 0.9  # a leaf is on the path all its time
    assert view.locator(".incomplete").count() == 0
    _shot(page, "request-view-critical-path")


def test_an_incomplete_request_is_looked_at_again_until_its_root_span_event_is_in(
    page: Any, collector: tuple[str, dict[str, str]]
) -> None:
    base, _ = collector
    port = int(base.rsplit(":", 1)[1])
    now = time.time() - 5
    common: dict[str, Any] = {
        "request_id": "req-late",
        "service": "shop",
        "kind": "web",
        "trace_id": "t-late",
    }
    child: dict[str, Any] = {"span_name": "render", "start": now + 0.01, "duration_ms": 20.0, "status": "ok"}
    common.update(created=now + 0.03, parent_span_id="r1")
    post(port, [wire("span render ok", span_id="c1", **common, **child)])
    page.goto(f"{base}/?request=req-late")
    view = page.locator("#request-view")
    view.locator(".incomplete").wait_for()
    root: dict[str, Any] = {"span_name": "request", "span_kind": "server", "method": "GET", "route": "late"}
    root.update(status_code=200, start=now, duration_ms=50.0, status="ok")
    common.update(created=now + 0.05, parent_span_id="")
    post(port, [wire("span request ok", span_id="r1", **common, **root)])
    sync_api.expect(view.locator(".incomplete")).to_have_count(0, timeout=15_000)
    sync_api.expect(view.locator("tr.span-row.critical")).to_have_count(2)
    assert "GET late 200" in view.locator("table.waterfall tr.span-row").first.inner_text()


def test_of_spans_running_in_parallel_the_one_that_ended_last_is_on_the_critical_path(
    page: Any, collector: tuple[str, dict[str, str]]
) -> None:
    base, _ = collector
    port = int(base.rsplit(":", 1)[1])
    now = time.time() - 5
    common: dict[str, Any] = {"request_id": "req-parallel", "service": "shop", "trace_id": "t-par"}

    def event(
        span_id: str, parent: str, start_ms: float, duration_ms: float, **fields: Any
    ) -> dict[str, Any]:
        fields.setdefault("span_name", span_id)
        end = now + (start_ms + duration_ms) / 1000
        return wire(
            f"span {span_id} ok",
            created=end,
            span_id=span_id,
            parent_span_id=parent,
            start=now + start_ms / 1000,
            duration_ms=duration_ms,
            status="ok",
            **common,
            **fields,
        )

    post(
        port,
        [
            event(
                "fetch-stock", "root", 10, 30, span_kind="client", method="GET", url="http://stock/items/7"
            ),
            event(
                "fetch-price", "root", 10, 60, span_kind="client", method="GET", url="http://prices/items/7"
            ),
            event("render", "root", 75, 20),
            event(
                "root", "", 0, 100, span_name="request", span_kind="server", method="GET", route="/items/{id}"
            ),
        ],
    )
    page.goto(f"{base}/?request=req-parallel")
    view = page.locator("#request-view")
    view.locator(".critical-list").wait_for()
    critical = view.locator("tr.span-row.critical")
    sync_api.expect(critical).to_have_count(3)
    assert view.locator("tr.span-row.critical[data-span=fetch-stock]").count() == 0
    assert view.locator("tr.span-row.critical[data-span=fetch-price]").count() == 1
    assert view.locator("tr[data-span=fetch-stock] .cpath").count() == 0
    # The root holds the path before, between and after its children: three marks on its bar.
    sync_api.expect(view.locator("tr[data-span=root] .cpath")).to_have_count(3)
    _shot(page, "request-view-critical-parallel")
