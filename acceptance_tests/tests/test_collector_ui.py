"""The promise, in a real browser: what one request caused, across the web process, a Celery task and
PostgreSQL, is one tree on one screen of the collector's UI.

Playwright drives Debian's ``/usr/bin/chromium`` headless, launched as ``tests/collector/test_ui.py``
does; screenshots go to ``test-artifacts/acceptance-ui/``. The request is the session's
``traced_request``: ``/api/sleep-in-worker`` on the demo, whose task's slow statement PostgreSQL
logged and ``c2cwsgiutils-logs ingest`` sent to the collector.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from acceptance_tests.tests.conftest import Product, TracedRequest, request_view
from tests.collector.browser import CHROMIUM, chromium
from tests.helpers import ROOT

sync_api = pytest.importorskip("playwright.sync_api")

ARTIFACTS = ROOT / "test-artifacts" / "acceptance-ui"

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is missing (make browser)")


@pytest.fixture
def page(product: Product) -> Iterator[Any]:
    """A page of the collector's UI in headless Chromium; the test fails on any console or page error."""
    errors: list[str] = []
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1400, "height": 900}, timezone_id="UTC")
        result = context.new_page()

        def on_console(message: Any) -> None:
            if message.type in ("error", "warning"):
                errors.append(message.text)

        result.on("console", on_console)
        result.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
        yield result
    assert errors == []


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def depth(row: Any) -> int:
    """The tree depth of a waterfall row (its label is indented 16 px per level)."""
    padding = row.locator("td.label").first.evaluate("cell => cell.style.paddingLeft")
    return (int(str(padding).removesuffix("px")) - 8) // 16


def tree(page: Any) -> list[tuple[int, str, str]]:
    """(depth, span id or "", text without the ``critical`` tag) of each row of the request view."""
    rows = page.locator("#request-view table.waterfall tr")
    result = []
    for index in range(rows.count()):
        row = rows.nth(index)
        words = row.inner_text().split()
        if "critical" in words[1:2]:  # the critical-path tag after the kind: checked on its own
            del words[1]
        result.append((depth(row), row.get_attribute("data-span") or "", " ".join(words)))
    return result


def parent_of(rows: list[tuple[int, str, str]], index: int) -> tuple[int, str, str]:
    """The row under which row ``index`` is drawn: the nearest span row above it, one level up."""
    level = rows[index][0]
    for candidate in reversed(rows[:index]):
        if candidate[1] and candidate[0] == level - 1:
            return candidate
    raise AssertionError(f"row {rows[index]} has no parent row")


def test_one_request_through_web_celery_and_postgresql_is_one_tree(
    product: Product, traced_request: TracedRequest, page: Any
) -> None:
    request_id = traced_request.request_id
    view = request_view(product.collector_url, request_id)
    span_of = {r["data"]["span_name"]: r["span_id"] for r in view["records"] if r["data"].get("span_name")}
    [statement] = [r for r in view["records"] if "pg_sleep" in str(r["data"].get("statement"))]

    # Search with the filter language.
    page.goto(f"{product.collector_url}?range=15m")
    page.wait_for_selector("#records tbody tr")
    page.fill("#q", f'request_id = "{request_id}"')
    page.press("#q", "Enter")
    rows = page.locator("#records tbody tr")
    sync_api.expect(rows).to_have_count(view["count"])
    shot(page, "demo-search")
    services = {text.strip() for text in page.locator("#records tbody td:nth-child(3)").all_inner_texts()}
    assert services == {"demo-web", "demo-worker", "postgresql"}

    # Zoom the timeline: drag over its last fifth, where the request is.
    page.locator("#timeline rect.bar").first.wait_for()
    box = page.locator("#timeline").bounding_box()
    assert box
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.8, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] - 1, y, steps=5)
    page.mouse.up()
    page.wait_for_url(re.compile(r"range=custom"))
    sync_api.expect(rows).to_have_count(view["count"])
    shot(page, "demo-zoomed")
    query = parse_qs(urlsplit(page.url).query)
    assert query["q"] == [f'request_id = "{request_id}"']
    zoomed_from, zoomed_to = moment(query["from"][0]), moment(query["to"][0])
    assert zoomed_to - zoomed_from < timedelta(minutes=4)  # a fifth of 15 minutes, and some rounding
    assert zoomed_from <= min(moment(r["time"]) for r in view["records"])
    assert max(moment(r["time"]) for r in view["records"]) <= zoomed_to

    # Open the request view: one tree, the task below the request's send span, the SQL below the task.
    rows.first.locator("a.rid").click()
    waterfall = page.locator("#request-view table.waterfall")
    waterfall.locator("tr").first.wait_for()
    shot(page, "demo-request-view")
    summary = page.locator("#request-view p.summary").inner_text()
    assert f"{view['count']} records" in summary
    assert all(service in summary for service in ("demo-web", "demo-worker", "postgresql"))
    drawn = tree(page)
    spans = {row[1]: row for row in drawn if row[1]}
    root = spans[span_of["request"]]
    assert drawn[0] == root
    assert root[0] == 0
    # Spans are labelled by their events: kind, what they did, service.
    assert root[2].startswith("server GET /api/sleep-in-worker 200")  # the route pattern
    assert "demo-web" in root[2]
    assert [row for row in drawn if row[0] == 0] == [root]  # nothing outside the tree
    assert [row for row in drawn if row[2].startswith("server ")] == [root]  # one web span
    for index in range(1, len(drawn)):  # every row below its parent, never before it
        parent_of(drawn, index)
    # The web process's other span is the one that enqueued the task (a producer, not a web span).
    send = spans[span_of["celery send"]]
    assert send[2].startswith("producer celery send demo.sleep_in_worker to ")
    assert "demo-web" in send[2]
    assert parent_of(drawn, drawn.index(send)) == root
    task = spans[span_of["task"]]
    assert task[2].startswith("task ")
    assert "demo-worker" in task[2]
    assert parent_of(drawn, drawn.index(task)) == send
    # The send span lasts until the message is queued, not until the task it sent has run.
    send_bar = page.locator(f'tr[data-span="{send[1]}"] .sbar').bounding_box()
    task_bar = page.locator(f'tr[data-span="{task[1]}"] .sbar').bounding_box()
    assert send_bar
    assert task_bar
    assert send_bar["width"] < task_bar["width"] / 2
    sql_span = spans[span_of["task.sql"]]
    assert parent_of(drawn, drawn.index(sql_span)) == task
    database = spans[statement["span_id"]]
    assert "sql postgresql" in database[2]
    assert parent_of(drawn, drawn.index(database)) == sql_span
    # The records of both processes and PostgreSQL's, each in its span.
    sleeping_message = f"Sleeping {traced_request.seconds} s in the worker"
    [sleeping] = [index for index, row in enumerate(drawn) if sleeping_message in row[2]]
    assert parent_of(drawn, sleeping) == task
    # A span's own event is its row (a click opens it), not a record row under it.
    assert not [row for row in drawn if "span request ok" in row[2]]
    [logged] = [
        index for index, row in enumerate(drawn) if "postgresql duration: " in row[2] and "pg_sleep" in row[2]
    ]
    assert parent_of(drawn, logged) == database

    # The task's record: its task id and its own service.
    waterfall.locator("tr.rec-row", has_text=sleeping_message).click()
    panel = page.locator("#panel")
    sync_api.expect(panel.locator("tr[data-field=task_id] td")).to_have_text(traced_request.task_id)
    assert panel.locator("tr[data-field=service] td").inner_text() == "demo-worker"
    assert panel.locator("tr[data-field=request_id] td").inner_text() == request_id
    shot(page, "demo-task-record")
    page.locator("#panel button.close").click()
    # PostgreSQL's record: the statement and how long it took, as the server logged them.
    waterfall.locator("tr.rec-row", has_text="pg_sleep").click()
    sync_api.expect(panel.locator("tr[data-field=service] td")).to_have_text("postgresql")
    assert float(panel.locator("tr[data-field='data.duration_ms'] td").inner_text()) >= 500
    assert panel.locator("tr[data-field=task_id] td").inner_text() == traced_request.task_id
    shot(page, "demo-postgresql-record")
