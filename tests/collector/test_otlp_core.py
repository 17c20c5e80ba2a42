"""The OTLP intake's rows (``otlp.rows``, compiled in ``_otlp_core``) are the reference path's rows."""

from __future__ import annotations

import base64
import json
import sys
from typing import Any

import pytest
from google.protobuf import json_format  # type: ignore[import-untyped]
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from c2cwsgiutils.collector.intake import otlp

# The module otlp chose (compiled, or the source with C2C_PURE_PYTHON=1): importing _otlp_core
# first would take the compiled build whatever the setting.
_otlp_core = sys.modules["c2cwsgiutils.collector.intake._otlp_core"]

NOW_NS = 1_765_000_000_000_000_000
# Attribute names: plain ones, dotted ones that nest and collide, the ones copied to fields of the
# record (code.*, exception.*, http.*, request ids), and names of columns and schema fields.
NAMES = st.sampled_from(
    [
        "order",
        "order.id",
        "order.id.x",
        "customer",
        "code.filepath",
        "code.lineno",
        "code.function.name",
        "exception.type",
        "exception.message",
        "exception.stacktrace",
        "error.type",
        "http.route",
        "http.request.method",
        "http.response.status_code",
        "url.full",
        "request_id",
        "http.request.header.x_request_id",
        "message",
        "msg",
        "host",
        "service",
        "kind",
        "task_id",
        "level_name",
        "c2c_extra",
        "created",
        "name",
        "body",
        "file",
        "span_name",
        "status",
        "events",
        "resource",
        "otel_unnested.x",
        "exc_info",
    ]
)
TEXTS = st.one_of(st.text(max_size=6), st.sampled_from(["", "a\x00b", "x" * 600, "\\u0000", "é"]))


def _scalar(draw: Any) -> AnyValue:
    kind = draw(st.sampled_from(["string", "int", "bool", "double", "bytes", "none"]))
    if kind == "string":
        return AnyValue(string_value=draw(TEXTS))
    if kind == "int":
        return AnyValue(int_value=draw(st.integers(-(2**63), 2**63 - 1)))
    if kind == "bool":
        return AnyValue(bool_value=draw(st.booleans()))
    if kind == "double":
        return AnyValue(double_value=draw(st.floats()))
    if kind == "bytes":
        return AnyValue(bytes_value=draw(st.binary(max_size=4)))
    return AnyValue()


@st.composite
def any_values(draw: Any, depth: int = 0) -> AnyValue:
    kind = draw(st.sampled_from(["scalar", "scalar", "scalar", "array", "kvlist"]))
    if kind == "scalar" or depth >= 2:
        return _scalar(draw)
    value = AnyValue()
    if kind == "array":
        value.array_value.values.extend(draw(st.lists(any_values(depth + 1), max_size=2)))
    else:
        value.kvlist_value.values.extend(draw(st.lists(key_values(depth + 1), max_size=2)))
    return value


@st.composite
def key_values(draw: Any, depth: int = 0) -> KeyValue:
    return KeyValue(key=draw(NAMES), value=draw(any_values(depth)))


ATTRIBUTES = st.lists(key_values(), max_size=5)
IDS = st.sampled_from([b"", b"\x00" * 8, bytes(range(1, 9))])
TRACE_IDS = st.sampled_from([b"", b"\x00" * 16, bytes(range(1, 17))])
TIMES = st.sampled_from([0, NOW_NS, NOW_NS + 123_456_789, 2**63 - 1])


def _resource(draw: Any, resource: Any) -> None:
    attributes = [
        *draw(st.lists(key_values(), max_size=2)),
        *draw(
            st.lists(
                st.builds(
                    KeyValue,
                    key=st.sampled_from(["service.name", "host.name"]),
                    value=st.one_of(
                        st.builds(AnyValue, string_value=TEXTS), st.builds(AnyValue, int_value=st.just(7))
                    ),
                ),
                max_size=2,
            )
        ),
    ]
    resource.attributes.extend(attributes)


@st.composite
def logs_requests(draw: Any) -> ExportLogsServiceRequest:
    request = ExportLogsServiceRequest()
    for _ in range(draw(st.integers(1, 2))):
        resource_logs = request.resource_logs.add()
        _resource(draw, resource_logs.resource)
        scope_logs = resource_logs.scope_logs.add()
        scope_logs.scope.name = draw(TEXTS)
        for _ in range(draw(st.integers(1, 3))):
            log = scope_logs.log_records.add()
            log.time_unix_nano = draw(TIMES)
            log.observed_time_unix_nano = draw(TIMES)
            log.severity_number = draw(st.integers(0, 26))
            log.severity_text = draw(st.sampled_from(["", "INFO", "warning", "a\x00b", "x"]))
            if draw(st.booleans()):
                log.body.CopyFrom(draw(any_values()))
            log.attributes.extend(draw(ATTRIBUTES))
            log.trace_id, log.span_id = draw(TRACE_IDS), draw(IDS)
            log.event_name = draw(st.sampled_from(["", "checkout.done"]))
    return request


@st.composite
def traces_requests(draw: Any) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    for _ in range(draw(st.integers(1, 2))):
        resource_spans = request.resource_spans.add()
        _resource(draw, resource_spans.resource)
        scope_spans = resource_spans.scope_spans.add()
        scope_spans.scope.name = draw(TEXTS)
        for _ in range(draw(st.integers(1, 3))):
            span = scope_spans.spans.add()
            span.name = draw(TEXTS)
            span.kind = draw(st.integers(0, 5))
            span.start_time_unix_nano, span.end_time_unix_nano = draw(TIMES), draw(TIMES)
            span.attributes.extend(draw(ATTRIBUTES))
            span.trace_id, span.span_id, span.parent_span_id = draw(TRACE_IDS), draw(IDS), draw(IDS)
            span.status.code = draw(st.integers(0, 2))
            span.status.message = draw(st.sampled_from(["", "boom"]))
            span.trace_state = draw(st.sampled_from(["", "a=1"]))
            for _ in range(draw(st.integers(0, 2))):
                event = span.events.add()
                event.name = draw(st.sampled_from(["exception", "retry"]))
                event.time_unix_nano = draw(TIMES)
                event.attributes.extend(draw(ATTRIBUTES))
            for _ in range(draw(st.integers(0, 1))):
                link = span.links.add()
                link.trace_id, link.span_id = bytes(range(1, 17)), bytes(range(1, 9))
    return request


def _hex_ids(value: Any) -> Any:
    """protobuf's JSON writes bytes in base64; OTLP/JSON wants trace and span ids in hex."""
    if isinstance(value, list):
        return [_hex_ids(item) for item in value]
    if isinstance(value, dict):
        return {
            key: base64.b64decode(item).hex()
            if key in ("traceId", "spanId", "parentSpanId")
            else _hex_ids(item)
            for key, item in value.items()
        }
    return value


def _bodies(request: Any) -> list[tuple[bool, bytes]]:
    document = _hex_ids(json_format.MessageToDict(request))
    return [(True, request.SerializeToString()), (False, json.dumps(document).encode())]


def _same_as_the_reference(signal: str, request: Any) -> None:
    for protobuf, body in _bodies(request):
        expected = otlp.reference_rows(signal, protobuf, body)
        made = otlp.rows(signal, protobuf, body, 1000)
        assert made.complete
        assert made.rows == [row for row in expected if not isinstance(row, str)], protobuf
        assert made.errors == [row for row in expected if isinstance(row, str)], protobuf


# Generating the requests can take seconds when other jobs load the machine.
@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=100)
@given(logs_requests())
def test_log_records_give_the_rows_of_the_reference_path(request: ExportLogsServiceRequest) -> None:
    _same_as_the_reference("logs", request)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=100)
@given(traces_requests())
def test_spans_give_the_rows_of_the_reference_path(request: ExportTraceServiceRequest) -> None:
    _same_as_the_reference("traces", request)


def _sdk_like_log() -> ExportLogsServiceRequest:
    request = ExportLogsServiceRequest()
    resource_logs = request.resource_logs.add()
    resource_logs.resource.attributes.extend(
        [
            KeyValue(key="service.name", value=AnyValue(string_value="shop")),
            KeyValue(key="host.name", value=AnyValue(string_value="web-1")),
            KeyValue(key="telemetry.sdk.language", value=AnyValue(string_value="python")),
        ]
    )
    scope_logs = resource_logs.scope_logs.add()
    scope_logs.scope.name = "shop.orders"
    log = scope_logs.log_records.add()
    log.time_unix_nano, log.severity_number, log.severity_text = NOW_NS, 13, "WARN"
    log.body.string_value = "order refused"
    log.trace_id, log.span_id = bytes(range(1, 17)), bytes(range(1, 9))
    log.attributes.extend(
        [
            KeyValue(key="code.filepath", value=AnyValue(string_value="/app/shop.py")),
            KeyValue(key="code.lineno", value=AnyValue(int_value=42)),
            KeyValue(key="order.id", value=AnyValue(int_value=7)),
            KeyValue(key="exception.type", value=AnyValue(string_value="KeyError")),
            KeyValue(key="request_id", value=AnyValue(string_value="r-1")),
        ]
    )
    return request


def test_the_usual_records_take_the_compiled_path(monkeypatch: pytest.MonkeyPatch) -> None:
    # What the SDKs send takes the short path: the reference is not asked.
    called: list[tuple[Any, ...]] = []
    original = otlp._slow_log

    def slow(args: tuple[Any, ...]) -> Any:
        called.append(args)
        return original(args)

    monkeypatch.setattr(otlp, "_slow_log", slow)
    made = otlp.rows("logs", True, _sdk_like_log().SerializeToString(), 10)
    assert called == []
    (row,) = made.rows
    assert row[1:10] == (
        NOW_NS // 1000,
        30,
        "shop.orders",
        "order refused",
        "web-1",
        "shop",
        "r-1",
        bytes(range(1, 17)).hex(),
        bytes(range(1, 9)).hex(),
    )
    data = json.loads(row[-1])
    assert (data["file"], data["line"], data["order"], data["exception"]) == (
        "/app/shop.py",
        42,
        {"id": 7},
        "KeyError: ",
    )
    assert data["resource"] == {"telemetry": {"sdk": {"language": "python"}}}


def test_an_attribute_named_like_a_column_takes_the_reference_path() -> None:
    # "kind" becomes the kind column in the reference: the short path leaves such a record.
    args: tuple[Any, ...] = ({}, "s", NOW_NS, 9, "", "m", {"kind": "cli"}, None, None, "", "0" * 32)
    assert _otlp_core.log_row(*args) is None
    row = otlp._slow_log(args)
    assert not isinstance(row, str)
    assert row[12] == "cli"


def test_more_records_than_allowed_are_not_complete() -> None:
    request = _sdk_like_log()
    request.resource_logs[0].scope_logs[0].log_records.add().CopyFrom(
        request.resource_logs[0].scope_logs[0].log_records[0]
    )
    for protobuf, body in _bodies(request):
        assert not otlp.rows("logs", protobuf, body, 1).complete
        assert otlp.rows("logs", protobuf, body, 2).complete


def test_a_key_value_list_attribute_is_the_same_whichever_path_takes_the_record() -> None:
    # Nesting "order.x" goes into the "order" key-value list; "kind" sends the record to the
    # reference path: that path must see the attributes as they came.
    request = _sdk_like_log()
    order = AnyValue()
    order.kvlist_value.values.add(key="id", value=AnyValue(int_value=7))
    log = request.resource_logs[0].scope_logs[0].log_records[0]
    del log.attributes[:]
    log.attributes.extend(
        [
            KeyValue(key="order", value=order),
            KeyValue(key="order.x", value=AnyValue(string_value="y")),
            KeyValue(key="kind", value=AnyValue(string_value="cli")),
        ]
    )
    _same_as_the_reference("logs", request)
