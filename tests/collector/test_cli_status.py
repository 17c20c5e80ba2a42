"""``GET /api/v1/status``: what ``c2cwsgiutils-logs status`` shows, on both storage backends."""

from __future__ import annotations

import time

import webtest

from tests.collector.records import ndjson, wire


def test_status_of_an_empty_collector_has_no_lag(app: webtest.TestApp) -> None:
    status = app.get("/api/v1/status").json
    assert (status["records"], status["lag_seconds"], status["sources"]) == (0, None, [])


def test_status_reports_lag_rate_size_and_sources(app: webtest.TestApp) -> None:
    now = time.time()
    app.post(
        "/api/v1/record",
        ndjson(
            wire("a", service="api", host="web-1", created=now - 30),
            wire("b", service="api", host="web-1", created=now - 20),
            wire("c", service="worker", host="web-2", created=now - 600),
        ),
        content_type="application/x-ndjson",
        status=201,
    )
    status = app.get("/api/v1/status").json
    assert status["records"] == 3
    assert 20 <= status["lag_seconds"] < 60
    assert status["rate_1m"] == round(2 / 60, 3)
    assert status["storage"]["bytes"] > 0
    assert [(s["service"], s["host"], s["records"]) for s in status["sources"]] == [
        ("api", "web-1", 2),
        ("worker", "web-2", 1),
    ]
