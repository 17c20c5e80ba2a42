"""OTLP/HTTP intake: the real OpenTelemetry Python SDK and its OTLP HTTP exporters, and OTLP/JSON."""

from __future__ import annotations

import gzip
import json
import logging
import time
import urllib.parse
import uuid
import warnings
from typing import Any

import pytest

from tests.collector.cli_process import TOKEN, Collector, collector

__all__ = ["collector"]

SERVICE = "otel-shop"


def _records(collector: Collector, query: str) -> list[dict[str, Any]]:
    """The full records (with data) matching ``query``, oldest first (waits a little for them)."""
    deadline = time.monotonic() + 10
    while True:
        status, rows = collector.call(
            "GET", "/api/v1/record?" + urllib.parse.urlencode({"query": query, "left": 0, "right": 99})
        )
        assert status == 200, rows
        if rows or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    found = []
    for row in reversed(rows):
        status, record = collector.call("GET", f"/api/v1/record/{row['id']}")
        assert status == 200
        found.append(record)
    return found


def _providers(collector: Collector, **resource: str) -> tuple[Any, Any]:
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    headers = {"Authorization": f"Bearer {TOKEN}"}
    attributes = {"service.name": SERVICE, "host.name": "otel-host-1", **resource}
    tracer_provider = TracerProvider(resource=Resource.create(attributes))
    tracer_provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{collector.url}/v1/traces", headers=headers))
    )
    logger_provider = LoggerProvider(resource=Resource.create(attributes))
    logger_provider.add_log_record_processor(
        SimpleLogRecordProcessor(OTLPLogExporter(endpoint=f"{collector.url}/v1/logs", headers=headers))
    )
    return tracer_provider, logger_provider


def test_spans_from_the_sdk_are_stored_as_named_timed_span_records(collector: Collector) -> None:
    from opentelemetry.trace import SpanKind, Status, StatusCode

    tracer_provider, logger_provider = _providers(collector)
    tracer = tracer_provider.get_tracer("shop.web")
    with tracer.start_as_current_span("GET /items/{id}", kind=SpanKind.SERVER) as server:
        server.set_attribute("http.route", "/items/{id}")
        server.set_attribute("http.request.method", "GET")
        server.set_attribute("http.response.status_code", 500)
        with tracer.start_as_current_span("load", kind=SpanKind.CLIENT) as client:
            try:
                raise KeyError("item 7")
            except KeyError as exc:
                client.record_exception(exc)
                client.set_status(Status(StatusCode.ERROR, "item missing"))
        trace_id = format(server.get_span_context().trace_id, "032x")
        server_id = format(server.get_span_context().span_id, "016x")
    tracer_provider.shutdown()
    logger_provider.shutdown()

    records = _records(collector, f"trace_id = {trace_id!r}")
    assert [r["data"]["span_name"] for r in records] == ["load", "GET /items/{id}"]
    load, web = records
    assert (web["service"], web["host"]) == (SERVICE, "otel-host-1")
    assert web["name"] == "shop.web"
    assert (web["span_id"], web["parent_span_id"]) == (server_id, None)
    assert web["data"]["span_kind"] == "server"
    assert (web["data"]["route"], web["data"]["method"], web["data"]["status_code"]) == (
        "/items/{id}",
        "GET",
        500,
    )
    assert web["data"]["http"]["route"] == "/items/{id}"
    assert web["data"]["duration_ms"] >= load["data"]["duration_ms"] > 0
    assert web["message"].startswith("span GET /items/{id} ok in ")
    assert load["parent_span_id"] == server_id
    assert (load["data"]["status"], load["level_name"]) == ("error", "ERROR")
    assert load["data"]["error_type"] == "KeyError"
    assert load["data"]["status_message"] == "item missing"
    assert "KeyError: 'item 7'" in load["data"]["exception"]


def test_log_records_from_the_sdk_keep_level_logger_body_and_attributes(collector: Collector) -> None:
    from opentelemetry.sdk._logs import LoggingHandler

    tracer_provider, logger_provider = _providers(collector)
    logger = logging.getLogger("shop.orders")
    with warnings.catch_warnings():  # deprecated for opentelemetry-instrumentation-logging's copy
        warnings.simplefilter("ignore", DeprecationWarning)
        handler = LoggingHandler(logger_provider=logger_provider)
    logger.addHandler(handler)
    logger.propagate = False
    marker = uuid.uuid4().hex
    try:
        with tracer_provider.get_tracer("t").start_as_current_span("s") as span:
            logger.warning("order %s refused", marker, extra={"order.id": 42, "order.lines": [1, 2]})
            trace_id = format(span.get_span_context().trace_id, "032x")
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
        logger_provider.shutdown()
        tracer_provider.shutdown()

    (record,) = [r for r in _records(collector, f"trace_id = {trace_id!r}") if "span_name" not in r["data"]]
    assert record["message"] == f"order {marker} refused"
    assert (record["level"], record["name"], record["service"]) == (30, "shop.orders", SERVICE)
    assert record["data"]["order"] == {"id": 42, "lines": [1, 2]}
    assert record["level_name"] == "WARNING"
    assert record["data"]["line"] > 0


def _json_spans(trace_id: str, span_id: str, parent: str = "") -> dict[str, Any]:
    now = time.time_ns()
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "json-svc"}}]},
                "scopeSpans": [
                    {
                        "scope": {"name": "json.scope"},
                        "spans": [
                            {
                                "traceId": trace_id,
                                "spanId": span_id,
                                "parentSpanId": parent,
                                "name": "work",
                                "kind": 1,
                                "startTimeUnixNano": str(now - 2_500_000),
                                "endTimeUnixNano": str(now),
                                "attributes": [
                                    {"key": "retries", "value": {"intValue": "3"}},
                                    {"key": "ok", "value": {"boolValue": True}},
                                ],
                                "status": {},
                            }
                        ],
                    }
                ],
            }
        ]
    }


def _post_otlp(
    collector: Collector, path: str, body: bytes, content_type: str, **headers: str
) -> tuple[int, bytes]:
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", collector.port, timeout=10)
    try:
        connection.request(
            "POST",
            path,
            body=body,
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": content_type, **headers},
        )
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_otlp_json_gzip_is_stored_and_a_resend_is_a_duplicate(collector: Collector) -> None:
    trace_id, span_id = uuid.uuid4().hex, uuid.uuid4().hex[:16]
    body = gzip.compress(json.dumps(_json_spans(trace_id, span_id)).encode())
    for _ in range(2):
        status, answer = _post_otlp(
            collector, "/v1/traces", body, "application/json", **{"Content-Encoding": "gzip"}
        )
        assert (status, json.loads(answer)) == (200, {})
    (record,) = _records(collector, f"trace_id = {trace_id!r}")
    assert record["span_id"] == span_id
    assert (record["service"], record["name"]) == ("json-svc", "json.scope")
    assert record["data"]["duration_ms"] == 2.5
    assert (record["data"]["retries"], record["data"]["ok"], record["data"]["span_kind"]) == (
        3,
        True,
        "internal",
    )


def test_a_bad_otlp_body_is_a_400_status_saying_why(collector: Collector) -> None:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    del ExportTraceServiceRequest  # the package is there: the answer is a google.rpc.Status
    status, answer = _post_otlp(collector, "/v1/traces", b"\xff\xff\xff", "application/x-protobuf")
    assert status == 400
    assert b"not a valid OTLP protobuf message" in answer
    bad_id = _json_spans("xyz", "0011223344556677")
    status, answer = _post_otlp(collector, "/v1/traces", json.dumps(bad_id).encode(), "application/json")
    assert status == 400
    assert json.loads(answer) == {"code": 3, "message": "traceId must be 32 hexadecimal digits"}
    status, answer = _post_otlp(collector, "/v1/logs", b"x", "text/plain")
    assert status == 415


def test_otlp_needs_the_writer_credentials(collector: Collector) -> None:
    status, _ = _post_otlp(collector, "/v1/logs", b"{}", "application/json", Authorization="Bearer wrong")
    assert status == 401


@pytest.mark.parametrize("service_knows_the_request_id", [False, True])
def test_otlp_spans_of_a_callee_show_in_the_callers_request_view(
    collector: Collector, service_knows_the_request_id: bool
) -> None:
    request_id = f"otlp-req-{uuid.uuid4().hex[:8]}"
    trace_id, caller_span = uuid.uuid4().hex, uuid.uuid4().hex[:16]
    collector.post(
        {
            "c2c_uuid": uuid.uuid4().hex,
            "msg": "calling the shop",
            "logger_name": "demo",
            "created": time.time(),
            "request_id": request_id,
            "trace_id": trace_id,
            "span_id": caller_span,
        }
    )
    document = _json_spans(trace_id, uuid.uuid4().hex[:16], parent=caller_span)
    if service_knows_the_request_id:  # a header captured by the callee's instrumentation
        span = document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
        span["attributes"].append(
            {
                "key": "http.request.header.x_request_id",
                "value": {"arrayValue": {"values": [{"stringValue": request_id}]}},
            }
        )
    status, _ = _post_otlp(collector, "/v1/traces", json.dumps(document).encode(), "application/json")
    assert status == 200
    status, view = collector.call("GET", f"/api/v1/request/{request_id}")
    assert status == 200
    assert view["records"][0]["message"] == "calling the shop"
    assert view["count"] == 2
    callee = view["records"][1]
    assert callee["parent_span_id"] == caller_span
    assert callee["request_id"] == (request_id if service_knows_the_request_id else None)
    tree = {span["span_id"]: span for span in view["spans"]}
    assert tree[caller_span]["children"] == [callee["span_id"]]


def test_nul_and_lone_surrogates_are_stored_as_replacement_characters(collector: Collector) -> None:
    trace_id = uuid.uuid4().hex
    document = {
        "resourceLogs": [
            {
                "scopeLogs": [
                    {
                        "logRecords": [
                            {
                                "timeUnixNano": str(time.time_ns()),
                                "body": {"stringValue": "nul\u0000here"},
                                "traceId": trace_id,
                                "attributes": [{"key": "odd", "value": {"stringValue": "x\ud800y"}}],
                            }
                        ]
                    }
                ]
            }
        ]
    }
    body = json.dumps(document).encode()  # ensure_ascii: the surrogate travels as \\ud800
    status, _ = _post_otlp(collector, "/v1/logs", body, "application/json")
    assert status == 200
    (record,) = _records(collector, f"trace_id = {trace_id!r}")
    assert (record["message"], record["data"]["odd"]) == ("nul\ufffdhere", "x\ufffdy")
