"""Internal. Records of the JSON schema (:mod:`c2cwsgiutils.logging.record`) turned into OTLP export requests.

Used by :class:`c2cwsgiutils.logging.otlp_handler.OtlpHandler`, whose queue and spool hold the
same NDJSON lines as the ``CollectorHandler``'s: a batch is converted when it is sent. Span events
(records of the ``c2cwsgiutils.spans`` logger carrying ``span_name``) become OTLP spans; every
other record an OTLP log record. Records are grouped by (service, host) into resources and by
logger name into instrumentation scopes.

Mapping (the reverse of the collector's OTLP intake, :mod:`c2cwsgiutils.collector.intake.otlp`):

- ``created`` -> ``timeUnixNano``; ``levelno`` -> ``severityNumber`` (DEBUG 5, INFO 9, WARNING 13,
  ERROR 17, CRITICAL 21) and ``level_name`` -> ``severityText``; ``msg`` -> ``body``;
  ``trace_id``/``span_id`` as they are; ``service``/``host`` -> resource ``service.name`` /
  ``host.name``.
- ``file``, ``line``, ``function``, ``thread_name``, ``pid``, ``exception``, ``stack`` -> the
  semantic-convention attributes ``code.file.path``, ``code.line.number``, ``code.function.name``,
  ``thread.name``, ``process.pid``, ``exception.stacktrace``, ``code.stacktrace``; ``request_id``,
  ``kind``, ``task_id`` and every ``extra=`` field -> attributes of their own name (nested objects
  as key-value lists).
- A span event: ``span_name`` -> ``name``, ``start`` and ``duration_ms`` -> start and end times,
  ``status`` ``error`` -> the ERROR status (``error_type`` its message), ``parent_span_id`` ->
  ``parentSpanId``, its own fields -> attributes.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Iterable
from typing import Any

__all__ = ["JSON", "PROTOBUF", "encode", "requests_of"]

PROTOBUF = "application/x-protobuf"
JSON = "application/json"

# Fields of the JSON schema that are not attributes, or map onto a semantic convention.
_SKIPPED = frozenset(
    (
        "timestamp",
        "created",
        "msg",
        "level",
        "level_name",
        "levelno",
        "logger_name",
        "host",
        "service",
        "trace_id",
        "span_id",
        "parent_span_id",
        "c2c_uuid",
        "process_name",
    )
)
_RENAMED = {
    "file": "code.file.path",
    "line": "code.line.number",
    "function": "code.function.name",
    "thread_name": "thread.name",
    "pid": "process.pid",
    "exception": "exception.stacktrace",
    "stack": "code.stacktrace",
}
_SPAN_FIELDS = frozenset(("span_name", "start", "duration_ms", "status", "error_type"))
_MAX_DEPTH = 16


def _severity(levelno: Any) -> int:
    if not isinstance(levelno, int) or isinstance(levelno, bool):
        return 9
    for limit, number in ((10, 5), (20, 9), (30, 13), (40, 17), (50, 21)):
        if levelno <= limit:
            return number if levelno == limit else max(1, number - 1)
    return 21


def _value(value: Any, depth: int = 0) -> dict[str, Any]:
    """An OTLP ``AnyValue`` in OTLP/JSON form."""
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int) and -(2**63) <= value < 2**63:
        return {"intValue": str(value)}
    if isinstance(value, float) and math.isfinite(value):
        return {"doubleValue": value}
    if isinstance(value, str):
        return {"stringValue": value}
    if depth < _MAX_DEPTH and isinstance(value, (list, tuple)):
        return {"arrayValue": {"values": [_value(item, depth + 1) for item in value]}}
    if depth < _MAX_DEPTH and isinstance(value, dict):
        return {
            "kvlistValue": {
                "values": [{"key": str(k), "value": _value(v, depth + 1)} for k, v in value.items()]
            }
        }
    if value is None:
        return {}
    return {"stringValue": json.dumps(value) if isinstance(value, (int, float)) else repr(value)}


def _attributes(record: dict[str, Any], skipped: frozenset[str]) -> list[dict[str, Any]]:
    attributes: list[dict[str, Any]] = []
    for key, value in record.items():
        if key in skipped or value is None or value == "":
            continue
        if key == "c2c_extra" and isinstance(value, dict):
            attributes.extend({"key": k, "value": _value(v)} for k, v in value.items())
            continue
        attributes.append({"key": _RENAMED.get(key, key), "value": _value(value)})
    return attributes


def _nanos(seconds: Any) -> str:
    return (
        str(int(seconds * 1e9))
        if isinstance(seconds, (int, float)) and not isinstance(seconds, bool)
        else "0"
    )


def _hex_id(value: Any, size: int) -> str:
    if isinstance(value, str) and len(value) == size * 2:
        try:
            bytes.fromhex(value)
        except ValueError:
            return ""
        return value.lower()
    return ""


def _is_span(record: dict[str, Any]) -> bool:
    return isinstance(record.get("span_name"), str) and isinstance(record.get("duration_ms"), (int, float))


def _log(record: dict[str, Any]) -> dict[str, Any]:
    message = record.get("msg")
    log: dict[str, Any] = {
        "timeUnixNano": _nanos(record.get("created")),
        "severityNumber": _severity(record.get("levelno")),
        "severityText": str(record.get("level_name") or ""),
        "body": _value(message if isinstance(message, str) else "" if message is None else message),
        "attributes": _attributes(record, _SKIPPED),
    }
    trace_id, span_id = _hex_id(record.get("trace_id"), 16), _hex_id(record.get("span_id"), 8)
    if trace_id:
        log["traceId"] = trace_id
    if span_id:
        log["spanId"] = span_id
    return log


def _span(record: dict[str, Any]) -> dict[str, Any]:
    start = record.get("start")
    start = (
        start if isinstance(start, (int, float)) and not isinstance(start, bool) else record.get("created", 0)
    )
    duration = float(record["duration_ms"])
    failed = record.get("status") == "error"
    span: dict[str, Any] = {
        "traceId": _hex_id(record.get("trace_id"), 16),
        "spanId": _hex_id(record.get("span_id"), 8),
        "name": record["span_name"],
        "kind": 1,  # INTERNAL: the server/client kinds are not known from a span event yet
        "startTimeUnixNano": _nanos(start),
        "endTimeUnixNano": _nanos(start + duration / 1000),
        "attributes": _attributes(record, _SKIPPED | _SPAN_FIELDS),
        "status": {"code": 2, "message": str(record.get("error_type") or "")} if failed else {"code": 1},
    }
    parent = _hex_id(record.get("parent_span_id"), 8)
    if parent:
        span["parentSpanId"] = parent
    return span


def _resource(service: str, host: str) -> dict[str, Any]:
    attributes = [{"key": "service.name", "value": {"stringValue": service or "unknown_service"}}]
    if host:
        attributes.append({"key": "host.name", "value": {"stringValue": host}})
    return {"attributes": attributes}


def requests_of(lines: Iterable[str]) -> tuple[dict[str, Any] | None, dict[str, Any] | None, int]:
    """(logs request, traces request, lines that are not a JSON object) in OTLP/JSON form.

    A request is ``None`` when no record of its kind is in ``lines``; spans without valid trace
    and span ids are sent as log records.
    """
    logs: dict[tuple[str, str], dict[str, list[dict[str, Any]]]] = {}
    spans: dict[tuple[str, str], dict[str, list[dict[str, Any]]]] = {}
    invalid = 0
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            invalid += 1
            continue
        if not isinstance(record, dict):
            invalid += 1
            continue
        resource = (str(record.get("service") or ""), str(record.get("host") or ""))
        scope = str(record.get("logger_name") or "")
        if _is_span(record):
            span = _span(record)
            if span["traceId"] and span["spanId"]:
                spans.setdefault(resource, {}).setdefault(scope, []).append(span)
                continue
        logs.setdefault(resource, {}).setdefault(scope, []).append(_log(record))
    logs_request = {
        "resourceLogs": [
            {
                "resource": _resource(*resource),
                "scopeLogs": [
                    {"scope": {"name": scope}, "logRecords": items} for scope, items in scopes.items()
                ],
            }
            for resource, scopes in logs.items()
        ]
    }
    traces_request = {
        "resourceSpans": [
            {
                "resource": _resource(*resource),
                "scopeSpans": [{"scope": {"name": scope}, "spans": items} for scope, items in scopes.items()],
            }
            for resource, scopes in spans.items()
        ]
    }
    return (logs_request if logs else None, traces_request if spans else None, invalid)


_ID_KEYS = frozenset(("traceId", "spanId", "parentSpanId"))


def _base64_ids(value: Any) -> Any:
    """The document with its hex ids in base64 (protobuf's JSON mapping of ``bytes``)."""
    if isinstance(value, dict):
        return {
            key: base64.b64encode(bytes.fromhex(item)).decode() if key in _ID_KEYS else _base64_ids(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_base64_ids(item) for item in value]
    return value


def encode(document: dict[str, Any], signal: str, content_type: str) -> bytes:
    """The body of an OTLP/HTTP export request of ``signal`` (``logs``/``traces``)."""
    if content_type == JSON:
        return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode(
            "utf-8", "backslashreplace"
        )
    from google.protobuf import json_format  # type: ignore[import-untyped]
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    message = ExportLogsServiceRequest() if signal == "logs" else ExportTraceServiceRequest()
    json_format.ParseDict(_base64_ids(document), message)
    return message.SerializeToString()  # type: ignore[no-any-return]
