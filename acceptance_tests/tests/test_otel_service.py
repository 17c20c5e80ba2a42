"""An OpenTelemetry-instrumented service in the demo's request path shows in the same request view.

The demo's ``GET /api/items/{id}/price`` calls the prices service (``c2cwsgiutils_demo.prices``:
the OpenTelemetry SDK, its WSGI instrumentation and OTLP/HTTP exporters, nothing of ours). Its spans
and log record reach the collector by OTLP and hang under the demo's client span of that call.
"""

from __future__ import annotations

import uuid
from typing import Any

from acceptance_tests.tests.conftest import Product
from c2cwsgiutils.acceptance import Connection, retry_timeout


def _priced(product: Product) -> tuple[str, dict[str, Any]]:
    request_id = f"priced-{uuid.uuid4().hex}"
    with Connection(product.base_url, retries=0) as demo:
        item = demo.post_json("api/items", json={"name": "priced item"}, expected_status=201)
        answer = demo.get_json(f"api/items/{item['id']}/price", headers={"X-Request-ID": request_id})
    assert answer["id"] == item["id"]
    assert answer["price"] > 0
    return request_id, answer


def test_the_otel_service_spans_hang_under_the_demo_client_span(product: Product) -> None:
    request_id, answer = _priced(product)

    def gathered() -> dict[str, Any]:
        with Connection(product.collector_url, retries=0) as collector:
            view: dict[str, Any] = collector.get_json(f"api/v1/request/{request_id}")
        names = {span.get("name") for span in view["spans"] if "demo-prices" in span["services"]}
        assert {"GET /prices/{id}", "compute price"} <= names, view["spans"]
        assert any(r["service"] == "demo-prices" and "price of item" in r["message"] for r in view["records"])
        return view

    view = retry_timeout(gathered, timeout=30, interval=0.3)
    spans = {span["span_id"]: span for span in view["spans"]}
    server = next(s for s in spans.values() if s.get("name") == "GET /prices/{id}")
    compute = next(s for s in spans.values() if s.get("name") == "compute price")
    client = spans[server["parent_span_id"]]
    # The prices service's server span is a child of the demo's client span of that very call ...
    assert client["services"] == ["demo-web"]
    assert client["span_kind"] == "client"
    assert f"/prices/{answer['id']}" in client["label"]
    assert server["span_kind"] == "server"
    assert compute["parent_span_id"] == server["span_id"]
    # ... which is under the demo's own request span: one tree, one trace.
    assert spans[client["parent_span_id"]]["services"] == ["demo-web"]
    assert len({span["trace_id"] for span in spans.values()}) == 1
    # The log record the service wrote in "compute price" carries that span.
    record = next(
        r for r in view["records"] if r["service"] == "demo-prices" and "price of item" in r["message"]
    )
    assert record["span_id"] == compute["span_id"]
