"""OTLP/HTTP bodies (logs and traces, protobuf or JSON) turned into records of the wire schema.

The OpenTelemetry SDKs and the OpenTelemetry Collector export to ``POST /v1/logs`` and
``POST /v1/traces``; :mod:`c2cwsgiutils.collector.http.otlp_views` serves those routes and stores what
this module returns through the same row building as an NDJSON line
(:func:`c2cwsgiutils.collector.intake.ingest.record_to_row`), so that OTLP records and ours are queried,
filtered and shown alike.

What a log record becomes (docs/collector/otlp.md has the whole table):

- ``time_unix_nano`` (else ``observed_time_unix_nano``) the record's time; ``severity_number``
  the Python level (TRACE 5, DEBUG 10, INFO 20, WARN 30, ERROR 40, FATAL 50), ``severity_text``
  its ``level_name``; a string ``body`` the message (another value: its JSON text, and the value
  under ``body``); the scope's name the logger name; ``trace_id`` / ``span_id`` in hex.
- Resource attributes ``service.name`` and ``host.name`` the ``service`` and ``host`` columns, the
  other resource attributes under ``resource``; record attributes nested by their dots
  (``http.route`` is ``data.http.route``), the code location ones (``code.filepath`` ...) also as
  ``file``, ``line``, ``function``.

A span becomes one record like the span events of :mod:`c2cwsgiutils.spans`: message
``span <name> <ok|error> in <ms> ms`` at its end time, ``span_name``, ``start``, ``duration_ms``,
``status``, ``error_type``, ``span_kind``, ``parent_span_id``, its events (an ``exception``
event's stack trace as ``exception``) and links; ``http.route``, the HTTP method and status code
also as ``route``, ``method`` and ``status_code``, which the request view and the requests page
read.

Idempotency: a span's key is derived from its trace and span ids; a log record's from its
resource's service and host and the record's own encoding. A resend (the exporters retry after a
time-out) is then counted as a duplicate, never stored twice.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import sys
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import orjson

from c2cwsgiutils import _compiled
from c2cwsgiutils.collector.intake import ingest
from c2cwsgiutils.collector.wire import Row

_compiled.load("c2cwsgiutils.collector.intake._otlp_core")  # compiled when built so (see _compiled)
_compiled.load("c2cwsgiutils.collector.intake._otlp_json")  # after _otlp_core, which it imports
from c2cwsgiutils.collector.intake import _otlp_core, _otlp_json  # noqa: E402 - the modules load() chose

__all__ = [
    "KEY_FIELD",
    "OtlpError",
    "Rows",
    "logs_from_json",
    "logs_from_protobuf",
    "reference_rows",
    "rows",
    "spans_from_json",
    "spans_from_protobuf",
]

# The wire field of the idempotency key (the one the CollectorHandler sets); scoped to the writer
# when stored, as for every intake.
KEY_FIELD = "c2c_uuid"

_MAX_DEPTH = _otlp_core.MAX_DEPTH
_SPAN_KINDS = {0: None, 1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}
_TEXT_LEVELS = {
    "TRACE": 5,
    "DEBUG": 10,
    "INFO": 20,
    "WARN": 30,
    "WARNING": 30,
    "ERROR": 40,
    "FATAL": 50,
    "CRITICAL": 50,
}
# Attributes also copied to a field of the record schema (first present wins).
_CODE_FIELDS = (
    ("file", ("code.file.path", "code.filepath")),
    ("line", ("code.line.number", "code.lineno")),
    ("function", ("code.function.name", "code.function")),
)
_HTTP_FIELDS = (
    ("route", ("http.route",)),
    ("method", ("http.request.method", "http.method")),
    ("status_code", ("http.response.status_code", "http.status_code")),
    ("url", ("url.full", "http.url")),
)
_REQUEST_ID_ATTRIBUTES = (
    "request_id",
    "http.request.header.x_request_id",
    "http.request.header.x-request-id",
)


OtlpError = _otlp_core.OtlpError


def _level(number: int, text: str) -> int:
    if 1 <= number <= 24:
        return (5, 10, 20, 30, 40, 50)[(number - 1) // 4]
    return _TEXT_LEVELS.get(text.upper(), 20)


def _nest(pairs: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """Attributes as nested objects by their dots; a name that collides is kept whole aside."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        parts = key.split(".")
        node = out
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                node = None  # type: ignore[assignment]
                break
            node = child
        if node is not None and parts[-1] not in node:
            node[parts[-1]] = value
        else:
            out.setdefault("otel_unnested", {})[key] = value
    return out


def _flat_get(flat: Mapping[str, Any], names: Iterable[str]) -> Any:
    for name in names:
        if name in flat:
            return flat[name]
    return None


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, list) and value else value


def _common(
    record: dict[str, Any], flat: Mapping[str, Any], fields: Iterable[tuple[str, Iterable[str]]]
) -> None:
    for target, names in fields:
        value = _flat_get(flat, names)
        if value is not None and target not in record:
            record[target] = value
    request_id = _first(_flat_get(flat, _REQUEST_ID_ATTRIBUTES))
    if isinstance(request_id, str) and request_id:
        record["request_id"] = request_id


def _resource_fields(flat: Mapping[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    service = flat.get("service.name")
    if isinstance(service, str):
        fields["service"] = service
    host = flat.get("host.name")
    if isinstance(host, str):
        fields["host"] = host
    rest = [(key, value) for key, value in flat.items() if key not in ("service.name", "host.name")]
    if rest:
        fields["resource"] = _nest(rest)
    return fields


def _hex(raw: bytes) -> str | None:
    return raw.hex() if raw and any(raw) else None


def _number(value: float) -> Any:
    return value if math.isfinite(value) else str(value)  # JSON has no NaN nor Infinity


def _log_record(
    resource: Mapping[str, Any],
    scope: str,
    *,
    time_ns: int,
    severity_number: int,
    severity_text: str,
    body: Any,
    flat: dict[str, Any],
    trace_id: str | None,
    span_id: str | None,
    event_name: str,
    key: str,
) -> dict[str, Any]:
    record: dict[str, Any] = {
        KEY_FIELD: key,
        "created": time_ns / 1e9,
        "levelno": _level(severity_number, severity_text),
        "logger_name": scope,
        "msg": body if isinstance(body, str) else json.dumps(body, ensure_ascii=False),
        **resource,
    }
    if severity_text:
        record["level_name"] = severity_text
    if not isinstance(body, str) and body is not None:
        record["body"] = body
    if trace_id:
        record["trace_id"] = trace_id
    if span_id:
        record["span_id"] = span_id
    if event_name:
        record["event_name"] = event_name
    exception = flat.get("exception.stacktrace") or (
        f"{flat['exception.type']}: {flat.get('exception.message', '')}" if "exception.type" in flat else None
    )
    if exception:
        record["exception"] = exception
    _common(record, flat, _CODE_FIELDS)
    if flat:
        record.update({k: v for k, v in _nest(flat.items()).items() if k not in record})
    return record


def _span_record(
    resource: Mapping[str, Any],
    scope: str,
    *,
    name: str,
    kind: int,
    start_ns: int,
    end_ns: int,
    flat: dict[str, Any],
    ids: tuple[str | None, str | None, str | None],
    status: tuple[int, str],
    events: list[dict[str, Any]],
    links: list[dict[str, Any]],
    trace_state: str,
) -> dict[str, Any]:
    trace_id, span_id, parent_span_id = ids
    failed = status[0] == 2  # STATUS_CODE_ERROR
    duration_ms = round(max(0, end_ns - start_ns) / 1e6, 3)
    outcome = "error" if failed else "ok"
    record: dict[str, Any] = {
        KEY_FIELD: hashlib.blake2b(
            f"span\x00{trace_id or ''}\x00{span_id or ''}".encode(), digest_size=16
        ).hexdigest(),
        "created": (end_ns or start_ns) / 1e9,
        "levelno": 40 if failed else 20,
        "logger_name": scope or "opentelemetry",
        "msg": f"span {name} {outcome} in {duration_ms:.3f} ms",
        **resource,
        "span_name": name,
        "start": start_ns / 1e9,
        "duration_ms": duration_ms,
        "status": outcome,
    }
    span_kind = _SPAN_KINDS.get(kind)
    if span_kind:
        record["span_kind"] = span_kind
    for field, value in (("trace_id", trace_id), ("span_id", span_id), ("parent_span_id", parent_span_id)):
        if value:
            record[field] = value
    if status[1]:
        record["status_message"] = status[1]
    for event in events:
        attributes = event.get("attributes") or {}
        if event.get("name") == "exception":
            exception = attributes.get("exception", {})
            record.setdefault("error_type", exception.get("type"))
            if exception.get("stacktrace"):
                record.setdefault("exception", exception["stacktrace"])
    if failed and "error_type" not in record and "error.type" in flat:
        record["error_type"] = flat["error.type"]
    if events:
        record["events"] = events
    if links:
        record["links"] = links
    if trace_state:
        record["trace_state"] = trace_state
    _common(record, flat, _HTTP_FIELDS)
    if flat:
        record.update({k: v for k, v in _nest(flat.items()).items() if k not in record})
    return record


def _log_record_of(args: tuple[Any, ...]) -> dict[str, Any]:
    resource, scope, time_ns, number, text, body, flat, trace_id, span_id, event_name, key = args
    return _log_record(
        resource,
        scope,
        time_ns=time_ns,
        severity_number=number,
        severity_text=text,
        body=body,
        flat=flat,
        trace_id=trace_id,
        span_id=span_id,
        event_name=event_name,
        key=key,
    )


def _span_record_of(args: tuple[Any, ...]) -> dict[str, Any]:
    resource, scope, name, kind, start_ns, end_ns, flat, ids, status, events, links, trace_state = args
    return _span_record(
        resource,
        scope,
        name=name,
        kind=kind,
        start_ns=start_ns,
        end_ns=end_ns,
        flat=flat,
        ids=ids,
        status=status,
        events=events,
        links=links,
        trace_state=trace_state,
    )


# ---- protobuf ----------------------------------------------------------------------------------


def _any_pb(value: Any, depth: int = 0) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "string_value":
        return value.string_value
    if kind == "int_value":
        return value.int_value
    if kind == "double_value":
        return _number(value.double_value)
    if kind == "bool_value":
        return value.bool_value
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode("ascii")
    if depth >= _MAX_DEPTH:
        raise OtlpError(f"values nested deeper than {_MAX_DEPTH} levels")
    if kind == "array_value":
        return [_any_pb(item, depth + 1) for item in value.array_value.values]
    return {item.key: _any_pb(item.value, depth + 1) for item in value.kvlist_value.values}


def _attributes_pb(attributes: Any) -> dict[str, Any]:
    return {item.key: _any_pb(item.value) for item in attributes}


def _parse_pb(message: Any, body: bytes) -> Any:
    try:
        message.ParseFromString(body)
    except Exception as exc:  # google.protobuf.message.DecodeError, RecursionError
        raise OtlpError(f"the body is not a valid OTLP protobuf message ({exc})") from None
    return message


def _log_args_pb(request: Any) -> Iterator[tuple[Any, ...]]:
    for resource_logs in request.resource_logs:
        resource_flat = _attributes_pb(resource_logs.resource.attributes)
        resource = _resource_fields(resource_flat)
        identity = f"{resource.get('service', '')}\x00{resource.get('host', '')}".encode()
        for scope_logs in resource_logs.scope_logs:
            scope = scope_logs.scope.name
            for log in scope_logs.log_records:
                body_value = _any_pb(log.body) if log.HasField("body") else ""
                yield (
                    resource,
                    scope,
                    log.time_unix_nano or log.observed_time_unix_nano,
                    log.severity_number,
                    log.severity_text,
                    "" if body_value is None else body_value,
                    _attributes_pb(log.attributes),
                    _hex(log.trace_id),
                    _hex(log.span_id),
                    log.event_name,
                    _otlp_core.key(b"log", identity, log.SerializeToString(deterministic=True)),
                )


def _logs_request(body: bytes) -> Any:
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

    return _parse_pb(ExportLogsServiceRequest(), body)


def _traces_request(body: bytes) -> Any:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    return _parse_pb(ExportTraceServiceRequest(), body)


def logs_from_protobuf(body: bytes) -> Iterator[dict[str, Any]]:
    """The records of an ``ExportLogsServiceRequest`` (its protobuf encoding); raises OtlpError."""
    return (_log_record_of(args) for args in _log_args_pb(_logs_request(body)))


def _span_args_pb(request: Any) -> Iterator[tuple[Any, ...]]:
    for resource_spans in request.resource_spans:
        resource = _resource_fields(_attributes_pb(resource_spans.resource.attributes))
        for scope_spans in resource_spans.scope_spans:
            scope = scope_spans.scope.name
            for span in scope_spans.spans:
                events = [
                    {
                        "name": event.name,
                        "time": event.time_unix_nano / 1e9,
                        "attributes": _nest(_attributes_pb(event.attributes).items()),
                    }
                    for event in span.events
                ]
                links = [
                    {"trace_id": link.trace_id.hex(), "span_id": link.span_id.hex()} for link in span.links
                ]
                yield (
                    resource,
                    scope,
                    span.name,
                    span.kind,
                    span.start_time_unix_nano,
                    span.end_time_unix_nano,
                    _attributes_pb(span.attributes),
                    (_hex(span.trace_id), _hex(span.span_id), _hex(span.parent_span_id)),
                    (span.status.code, span.status.message),
                    events,
                    links,
                    span.trace_state,
                )


def spans_from_protobuf(body: bytes) -> Iterator[dict[str, Any]]:
    """The span records of an ``ExportTraceServiceRequest`` (protobuf); raises OtlpError."""
    return (_span_record_of(args) for args in _span_args_pb(_traces_request(body)))


# ---- JSON (OTLP/JSON: lowerCamelCase keys, hex ids, 64-bit integers as strings) ---------------


# The OTLP/JSON values and fields, checked by compiled code (see _otlp_json).
_get = _otlp_json.json_get
_int = _otlp_json.json_int
_enum = _otlp_json.json_enum
_hex_json = _otlp_json.json_hex
_any_json = _otlp_json.json_any
_attributes_json = _otlp_json.json_attributes
_list = _otlp_json.json_list


def _document(body: bytes) -> dict[str, Any]:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        document = None  # orjson refuses what json takes (NaN, integers past 64 bits, lone surrogates)
    if document is not None:
        if not isinstance(document, dict):
            raise OtlpError("the body must be a JSON object")
        return document
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise OtlpError(f"the body is not valid JSON ({exc})") from None
    if not isinstance(document, dict):
        raise OtlpError("the body must be a JSON object")
    return document


def _scope_name(scoped: Mapping[str, Any]) -> str:
    scope = _get(scoped, "scope", {}) or {}
    name = scope.get("name", "") if isinstance(scope, dict) else ""
    return name if isinstance(name, str) else ""


def _resource_json(resourced: Mapping[str, Any]) -> dict[str, Any]:
    resource = _get(resourced, "resource", {}) or {}
    if not isinstance(resource, dict):
        raise OtlpError("resource must be an object")
    return _resource_fields(_attributes_json(_get(resource, "attributes", [])))


_text = _otlp_json.json_text


def _canonical(log: dict[str, Any]) -> bytes:
    """The log record's JSON with its keys sorted: what its idempotency key is made of."""
    try:
        return orjson.dumps(log, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # what orjson does not encode (an integer past 64 bits ...)
        return json.dumps(log, sort_keys=True).encode()


def _log_args_json(document: dict[str, Any]) -> Iterator[tuple[Any, ...]]:
    for resource_logs in _list(document, "resourceLogs"):
        resource = _resource_json(resource_logs)
        identity = f"{resource.get('service', '')}\x00{resource.get('host', '')}".encode()
        for scope_logs in _list(resource_logs, "scopeLogs"):
            scope = _scope_name(scope_logs)
            for log in _list(scope_logs, "logRecords"):
                body_value = _any_json(_get(log, "body"))
                yield (
                    resource,
                    scope,
                    _int(_get(log, "timeUnixNano"), "timeUnixNano")
                    or _int(_get(log, "observedTimeUnixNano"), "observedTimeUnixNano"),
                    _enum(_get(log, "severityNumber"), "severityNumber"),
                    _text(_get(log, "severityText")),
                    "" if body_value is None else body_value,
                    _attributes_json(_get(log, "attributes", [])),
                    _hex_json(_get(log, "traceId"), 16, "traceId"),
                    _hex_json(_get(log, "spanId"), 8, "spanId"),
                    _text(_get(log, "eventName")),
                    _otlp_core.key(b"log", identity, _canonical(log)),
                )


def logs_from_json(body: bytes) -> Iterator[dict[str, Any]]:
    """The records of an ``ExportLogsServiceRequest`` in OTLP/JSON; raises OtlpError."""
    return (_log_record_of(args) for args in _log_args_json(_document(body)))


def _span_args_json(document: dict[str, Any]) -> Iterator[tuple[Any, ...]]:
    for resource_spans in _list(document, "resourceSpans"):
        resource = _resource_json(resource_spans)
        for scope_spans in _list(resource_spans, "scopeSpans"):
            scope = _scope_name(scope_spans)
            for span in _list(scope_spans, "spans"):
                status = _get(span, "status", {}) or {}
                if not isinstance(status, dict):
                    raise OtlpError("status must be an object")
                events = [
                    {
                        "name": _text(event.get("name")),
                        "time": _int(_get(event, "timeUnixNano"), "timeUnixNano") / 1e9,
                        "attributes": _nest(_attributes_json(_get(event, "attributes", [])).items()),
                    }
                    for event in _list(span, "events")
                ]
                links = [
                    {
                        "trace_id": _hex_json(_get(link, "traceId"), 16, "traceId"),
                        "span_id": _hex_json(_get(link, "spanId"), 8, "spanId"),
                    }
                    for link in _list(span, "links")
                ]
                yield (
                    resource,
                    scope,
                    _text(_get(span, "name")),
                    _enum(_get(span, "kind"), "kind"),
                    _int(_get(span, "startTimeUnixNano"), "startTimeUnixNano"),
                    _int(_get(span, "endTimeUnixNano"), "endTimeUnixNano"),
                    _attributes_json(_get(span, "attributes", [])),
                    (
                        _hex_json(_get(span, "traceId"), 16, "traceId"),
                        _hex_json(_get(span, "spanId"), 8, "spanId"),
                        _hex_json(_get(span, "parentSpanId"), 8, "parentSpanId"),
                    ),
                    (_enum(_get(status, "code"), "status.code"), _text(status.get("message"))),
                    events,
                    links,
                    _text(_get(span, "traceState")),
                )


def spans_from_json(body: bytes) -> Iterator[dict[str, Any]]:
    """The span records of an ``ExportTraceServiceRequest`` in OTLP/JSON; raises OtlpError."""
    return (_span_record_of(args) for args in _span_args_json(_document(body)))


# ---- rows ---------------------------------------------------------------------------------------


def _storable(record: dict[str, Any]) -> dict[str, Any]:
    """``record``, with NUL and lone surrogates replaced in its strings when it has any.

    The databases cannot store them (PostgreSQL refuses NUL in text and ``\\u0000`` in JSONB);
    the NDJSON path replaces them the same way.
    """
    try:
        encoded = orjson.dumps(record)
    except TypeError:  # a lone surrogate (OTLP/JSON "\\ud800"), or something else orjson refuses
        encoded = b"\\u0000"
    if b"\\u0000" not in encoded:
        return record
    cleaned: dict[str, Any] = ingest.clean(record)
    return cleaned


def _row_of(record: dict[str, Any]) -> Row | str:
    try:
        # Every record made here has its "created": the time of arrival is never read.
        return ingest.record_to_row(_storable(record), 0.0)
    except ingest.BadRecord as exc:
        return str(exc)


def _slow_log(args: tuple[Any, ...]) -> Row | str:
    """The row of a log record the compiled path left (see _otlp_core), or why it is refused."""
    return _row_of(_log_record_of(args))


def _slow_span(args: tuple[Any, ...]) -> Row | str:
    """As :func:`_slow_log`, for a span."""
    return _row_of(_span_record_of(args))


class Rows:
    """The rows of one OTLP request: ``rows``, ``errors`` (why each refused record was refused),
    and ``complete`` (``False``: the request has more records than allowed, and was left there)."""

    __slots__ = ("complete", "errors", "rows")

    def __init__(self) -> None:
        self.rows: list[Row] = []
        self.errors: list[str] = []
        self.complete = True


# What the compiled loops call back for (see _otlp_core.protobuf_logs).
_HELPERS = sys.modules[__name__]


def rows(signal: str, protobuf: bool, body: bytes, max_records: int) -> Rows:
    """The storage rows of the records of an OTLP request; raises OtlpError.

    ``signal``: ``"logs"`` or ``"traces"``; ``protobuf``: the body's encoding (else OTLP/JSON). The
    same rows as :func:`reference_rows` (a test compares them), made without the records in
    between when they have the usual shape.
    """
    out = Rows()
    if protobuf:
        if signal == "logs":
            out.complete = _otlp_core.protobuf_logs(
                _logs_request(body), _HELPERS, out.rows, out.errors, max_records
            )
        else:
            request = _traces_request(body)
            out.complete = _otlp_core.protobuf_spans(request, _HELPERS, out.rows, out.errors, max_records)
        return out
    logs = signal == "logs"
    make = _otlp_core.log_row if logs else _otlp_core.span_row
    slow = _slow_log if logs else _slow_span
    document = _document(body)
    for count, args in enumerate(_log_args_json(document) if logs else _span_args_json(document), 1):
        if count > max_records:
            out.complete = False
            break
        row = make(*args) or slow(args)
        if isinstance(row, str):
            out.errors.append(row)
        else:
            out.rows.append(row)
    return out


def reference_rows(signal: str, protobuf: bool, body: bytes) -> list[Row | str]:
    """Each record's row (or why it is refused) by the reference path: the record of the wire schema
    (``*_from_protobuf``, ``*_from_json``) through ``ingest.record_to_row``, as an NDJSON line."""
    decode = {
        ("logs", True): logs_from_protobuf,
        ("logs", False): logs_from_json,
        ("traces", True): spans_from_protobuf,
        ("traces", False): spans_from_json,
    }[(signal, protobuf)]
    return [_row_of(record) for record in decode(body)]
