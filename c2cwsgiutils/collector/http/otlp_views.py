"""``POST /v1/logs`` and ``POST /v1/traces``: the OTLP/HTTP intake of the collector.

Point an OpenTelemetry SDK or an OpenTelemetry Collector at the collector's main port
(``OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:8090``, with
``OTEL_EXPORTER_OTLP_HEADERS=Authorization=Bearer <writer token>`` when the collector has
credentials). Both encodings (``application/x-protobuf``, ``application/json``) and gzip are taken,
with the same writer role, body and batch limits and idempotency as ``POST /api/v1/record``; the
answer is the OTLP ``Export*ServiceResponse`` in the request's encoding (200), with
``partial_success`` counting the records refused. Errors answer a ``google.rpc.Status`` (protobuf or
JSON) with a 4xx status and the reason in its message.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from c2cwsgiutils.collector.http.admission import Refused
from c2cwsgiutils.collector.http.api import ApiError, discard_body, error_for, read_body
from c2cwsgiutils.collector.http.app_state import CollectorState, get_state
from c2cwsgiutils.collector.intake import ingest, otlp

__all__ = ["includeme", "status_message"]

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
_INVALID_ARGUMENT = 3  # google.rpc.Code
_CODES = {400: 3, 401: 16, 403: 7, 404: 5, 413: 3, 415: 3, 429: 8, 503: 14}

_SIGNALS: dict[str, tuple[str, str]] = {
    # signal: (response message class, rejected counter field)
    "logs": (
        "opentelemetry.proto.collector.logs.v1.logs_service_pb2:ExportLogsServiceResponse",
        "rejected_log_records",
    ),
    "traces": (
        "opentelemetry.proto.collector.trace.v1.trace_service_pb2:ExportTraceServiceResponse",
        "rejected_spans",
    ),
}


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def status_message(code: int, message: str) -> bytes:
    """A ``google.rpc.Status`` protobuf message (fields 1 ``code`` and 2 ``message``)."""
    text = message.encode("utf-8")
    return b"\x08" + _varint(code) + b"\x12" + _varint(len(text)) + text


def _response(body: bytes, status: int, content_type: str, headers: dict[str, str] | None = None) -> Any:
    from pyramid.response import Response

    response = Response(body=body, status=status, content_type=content_type)
    if headers:
        response.headers.update(headers)
    return response


def _answer(signal: str, protobuf: bool, rejected: int, message: str) -> Any:
    response_class, counter = _SIGNALS[signal]
    if protobuf:
        import importlib

        module, _, name = response_class.partition(":")
        response = getattr(importlib.import_module(module), name)()
        if rejected:
            setattr(response.partial_success, counter, rejected)
            response.partial_success.error_message = message
        return _response(response.SerializeToString(), 200, PROTOBUF)
    body: dict[str, Any] = {}
    if rejected:
        camel = "".join(part if i == 0 else part.title() for i, part in enumerate(counter.split("_")))
        body["partialSuccess"] = {camel: str(rejected), "errorMessage": message}
    return _response(json.dumps(body).encode(), 200, JSON)


def _error(status: int, message: str, protobuf: bool, headers: dict[str, str]) -> Any:
    code = _CODES.get(status, 2)
    if protobuf:
        return _response(status_message(code, message), status, PROTOBUF, headers)
    body = json.dumps({"code": code, "message": message}, ensure_ascii=False).encode()
    return _response(body, status, JSON, headers)


def _protobuf_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("opentelemetry.proto") is not None


def export(request: Any, state: CollectorState, signal: str, writer: str) -> Any:
    """Store the records of one OTLP export request; the OTLP answer (or raise ApiError).

    ``writer`` is the caller's credential name ("" without credentials): the records' idempotency
    keys belong to it. Raises Refused (503 with ``Retry-After``) when the collector is busy or its
    storage is down, as for ``POST /api/v1/record``.
    """
    try:
        return state.admission.run(lambda: _export(request, state, signal, writer))
    except Refused:
        # Read what is left of the body, so that the client's keep-alive connection stays open.
        discard_body(request.content_length, request.body_file_raw, state.settings.max_body_bytes)
        raise


def _export(request: Any, state: CollectorState, signal: str, writer: str) -> Any:
    content_type = (request.content_type or "").lower()
    if content_type not in (PROTOBUF, JSON):
        raise ApiError(
            415, "unsupported_media_type", f"Content-Type {content_type[:60]!r}: use {PROTOBUF} or {JSON}"
        )
    limit = state.settings.max_body_bytes
    body = read_body(request.content_length, request.body_file_raw, limit)
    try:
        body = ingest.decode_body(body, request.headers.get("Content-Encoding", ""), limit)
    except ingest.BodyTooLarge as exc:
        raise ApiError(413, "payload_too_large", str(exc)) from None
    except ValueError as exc:
        raise ApiError(400, "invalid_body", str(exc)) from None
    if content_type == PROTOBUF and not _protobuf_available():
        raise ApiError(
            415,
            "unsupported_media_type",
            f"{PROTOBUF} needs opentelemetry-proto on the collector (pip install 'c2cwsgiutils[collector]'); "
            f"or send {JSON}",
        )
    maximum = state.settings.max_batch_records
    try:
        made = otlp.rows(signal, content_type == PROTOBUF, body, maximum)
    except otlp.OtlpError as exc:
        raise ApiError(400, "invalid_body", str(exc)) from None
    if not made.complete:
        raise ApiError(
            413, "payload_too_large", f"more than {maximum} records (C2C_COLLECTOR_MAX_BATCH_RECORDS)"
        )
    rows, rejected, reasons = made.rows, len(made.errors), made.errors[:3]
    if rows:
        scoped = ingest.scope_rows(rows, writer)
        state.admission.store(lambda: state.storage.insert(scoped))
    return _answer(signal, content_type == PROTOBUF, rejected, "; ".join(reasons))


def _view(signal: str) -> Callable[[Any], Any]:
    def view(request: Any) -> Any:
        protobuf = (request.content_type or "").lower() == PROTOBUF
        if request.method != "POST":
            return _error(405, f"{request.path} takes POST only", protobuf, {"Allow": "POST"})
        state = get_state(request.registry)
        try:
            principal = state.authenticator.require(request.headers, "writer")
            return export(request, state, signal, "" if principal is None else principal.name)
        except Exception as exc:
            status, body, headers = error_for(exc, request.method, request.path_qs)
            return _error(status, str(body.get("message", "")), protobuf, headers)

    view.__name__ = f"otlp_{signal}"
    return view


def includeme(config: Any) -> None:
    """Add the OTLP/HTTP routes ``/v1/logs`` and ``/v1/traces``."""
    for signal in _SIGNALS:
        config.add_route(f"c2c_collector_otlp_{signal}", f"/v1/{signal}")
        config.add_view(_view(signal), route_name=f"c2c_collector_otlp_{signal}")
