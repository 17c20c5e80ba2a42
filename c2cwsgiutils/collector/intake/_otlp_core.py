"""OTLP log records and spans made straight into rows: the hot path of the OTLP intake.

Compiled with mypyc when the package is built with a C compiler (see setup.py and
:mod:`c2cwsgiutils._compiled`); the same file runs as plain Python otherwise.

The reference is :mod:`c2cwsgiutils.collector.intake.otlp`: it makes a record of the wire schema
(``_log_record``, ``_span_record``) that ``ingest.record_to_row`` turns into a row, as for an NDJSON
line. :func:`log_row` and :func:`span_row` take the same values and give the same row without that
record, or ``None`` when the record is not of the usual shape (an attribute named like a column
or a field of the schema, a NUL, a value orjson cannot encode, a time out of range): the caller then
takes the reference path. A test compares both on random requests. :func:`protobuf_logs` and
:func:`protobuf_spans` walk a parsed protobuf request (upb) and make its rows; the checks of
OTLP/JSON are in :mod:`c2cwsgiutils.collector.intake._otlp_json`.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Final

import orjson

from c2cwsgiutils.collector.wire import MAX_SHORT, MAX_STRING, SCHEMA_NAMES

# Names the reference path treats apart (a column, a rename, exc_info left out when null): a record
# with an attribute of one of them goes to the reference path.
_SPECIAL_NAMES: Final = SCHEMA_NAMES | frozenset(("exc_info",))

MAX_DEPTH: Final = 32  # nesting of the values (AnyValue) of a request
_SPAN_KINDS: Final = ("", "internal", "server", "client", "producer", "consumer")
_TEXT_LEVELS: Final = {
    "TRACE": 5,
    "DEBUG": 10,
    "INFO": 20,
    "WARN": 30,
    "WARNING": 30,
    "ERROR": 40,
    "FATAL": 50,
    "CRITICAL": 50,
}
_CODE_FIELDS: Final = (
    ("file", ("code.file.path", "code.filepath")),
    ("line", ("code.line.number", "code.lineno")),
    ("function", ("code.function.name", "code.function")),
)
_HTTP_FIELDS: Final = (
    ("route", ("http.route",)),
    ("method", ("http.request.method", "http.method")),
    ("status_code", ("http.response.status_code", "http.status_code")),
    ("url", ("url.full", "http.url")),
)
_REQUEST_ID_ATTRIBUTES: Final = (
    "request_id",
    "http.request.header.x_request_id",
    "http.request.header.x-request-id",
)
_NUL_ESCAPE: Final = b"\\u0000"


class OtlpError(ValueError):
    """The body is not a valid OTLP request (answered 400 with the reason)."""


def level(number: int, text: str) -> int:
    """The Python level of an OTLP severity number (else of its text; INFO when neither says)."""
    if 1 <= number <= 24:
        return (5, 10, 20, 30, 40, 50)[(number - 1) // 4]
    return _TEXT_LEVELS.get(text.upper(), 20)


def key(*parts: bytes) -> str:
    """32 hexadecimal digits of BLAKE2b over ``parts`` (each prefixed by its length)."""
    digest = hashlib.blake2b(digest_size=16)
    for part in parts:
        digest.update(len(part).to_bytes(4, "big"))
        digest.update(part)
    return digest.hexdigest()


def span_key(trace_id: str | None, span_id: str | None) -> str:
    """A span's idempotency key: 32 hexadecimal digits of BLAKE2b over its trace and span ids."""
    return hashlib.blake2b(
        f"span\x00{trace_id or ''}\x00{span_id or ''}".encode(), digest_size=16
    ).hexdigest()


def nest(flat: dict[str, Any]) -> dict[str, Any]:
    """Attributes as nested objects by their dots; a name that collides is kept whole aside."""
    out: dict[str, Any] = {}
    for name, value in flat.items():
        if "." not in name:
            if name in out:
                out.setdefault("otel_unnested", {})[name] = value
            else:
                out[name] = value
            continue
        parts = name.split(".")
        node: dict[str, Any] | None = out
        for part in parts[:-1]:
            assert node is not None
            child = node.setdefault(part, {})
            if type(child) is not dict:
                node = None
                break
            node = child
        if node is not None and parts[-1] not in node:
            node[parts[-1]] = value
        else:
            out.setdefault("otel_unnested", {})[name] = value
    return out


def _has_object(flat: dict[str, Any]) -> bool:
    """Whether an attribute is a key-value list: nesting may add to it (as the reference does), and
    the reference path, if it had to take the record after that, would see it changed."""
    return any(type(value) is dict for value in flat.values())


def hex_id(raw: bytes) -> str | None:
    """The id in hex, ``None`` when empty or all zeros."""
    return raw.hex() if raw and raw.count(0) != len(raw) else None


def _first_of(flat: dict[str, Any], names: tuple[str, ...]) -> Any:
    for name in names:
        if name in flat:
            return flat[name]
    return None


def _request_id(flat: dict[str, Any]) -> str | None:
    value = _first_of(flat, _REQUEST_ID_ATTRIBUTES)
    if type(value) is list and value:
        value = value[0]
    return value if isinstance(value, str) and value else None


def _column(value: str | None) -> str | None:
    return value[:MAX_SHORT] or None if value is not None else None


def _text_column(resource: dict[str, Any], name: str) -> str | None:
    value = resource.get(name)
    return value[:MAX_SHORT] or None if isinstance(value, str) else None


def _finish(
    data: dict[str, Any],
    nested: dict[str, Any] | None,
    columns: frozenset[str],
    head: tuple[Any, ...],
    texts: tuple[str, ...],
) -> tuple[Any, ...] | None:
    """The row: ``head`` (key .. kind columns) and ``data`` with the attributes, or ``None``.

    ``columns``: the schema's names that the record has as its own fields (an attribute of that
    name is left out, as ``record.update`` leaves it); another schema name among the attributes
    would become a column or be dropped by the reference: not the usual shape.
    """
    if nested is not None:
        for name, value in nested.items():
            if name in data or name in columns:
                continue
            if name in _SPECIAL_NAMES:
                return None
            data[name] = value
    for text in texts:
        if "\x00" in text:
            return None
    try:
        encoded = orjson.dumps(data)
    except TypeError:  # a lone surrogate, an integer past 64 bits, too deep: the reference decides
        return None
    if _NUL_ESCAPE in encoded:
        return None
    return (*head, encoded.decode("utf-8"))


def _time_us(created: float) -> int:
    # As wire.time_us (rounded to the microsecond, as the reference path and Chronologer's ts).
    whole = int(created)
    return whole * 1_000_000 + round((created - whole) * 1_000_000)


_LOG_COLUMNS: Final = frozenset(("c2c_uuid", "created", "levelno", "logger_name", "msg"))
_NONE: Final[frozenset[str]] = frozenset()


def log_row(  # noqa: PLR0917 - called with the tuple the decoders make (log_row(*args))
    resource: dict[str, Any],
    scope: str,
    time_ns: int,
    severity_number: int,
    severity_text: str,
    body: Any,
    flat: dict[str, Any],
    trace_id: str | None,
    span_id: str | None,
    event_name: str,
    record_key: str,
) -> tuple[Any, ...] | None:
    """The row of one log record (the arguments of ``otlp._log_record``), or ``None``."""
    created = time_ns / 1e9
    if not 0 <= created < 1e11:
        return None
    body_is_text = isinstance(body, str)
    message: str = body if body_is_text else json.dumps(body, ensure_ascii=False)
    data: dict[str, Any] = {}
    service = resource.get("service")
    host = resource.get("host")
    if "resource" in resource:
        data["resource"] = resource["resource"]
    if not body_is_text and body is not None:
        data["body"] = body
    if event_name:
        data["event_name"] = event_name
    request_id: str | None = None
    nested: dict[str, Any] | None = None
    if flat:
        exception = flat.get("exception.stacktrace") or (
            f"{flat['exception.type']}: {flat.get('exception.message', '')}"
            if "exception.type" in flat
            else None
        )
        if exception:
            data["exception"] = exception
        for target, names in _CODE_FIELDS:
            value = _first_of(flat, names)
            if value is not None:
                data[target] = value
        request_id = _request_id(flat)
        if _has_object(flat):
            return None
        nested = nest(flat)
    columns = _NONE
    if nested is not None and not _SPECIAL_NAMES.isdisjoint(nested):
        # The schema's names the record has as fields of its own (the others are not the usual shape).
        present = [
            ("service", service is not None),
            ("host", host is not None),
            ("level_name", bool(severity_text)),
            ("trace_id", bool(trace_id)),
            ("span_id", bool(span_id)),
            ("request_id", request_id is not None),
        ]
        columns = _LOG_COLUMNS | frozenset(name for name, here in present if here)
    head = (
        record_key,
        _time_us(created),
        level(severity_number, severity_text),
        scope[:MAX_SHORT],
        message[:MAX_STRING],
        _text_column(resource, "host"),
        _text_column(resource, "service"),
        _column(request_id),
        _column(trace_id),
        _column(span_id),
        None,
        None,
        None,
    )
    texts = (message, scope, severity_text, service if isinstance(service, str) else "")
    return _finish(
        data,
        nested,
        columns,
        head,
        (*texts, host if isinstance(host, str) else "", request_id or ""),
    )


_SPAN_COLUMNS: Final = _LOG_COLUMNS


def span_row(  # noqa: PLR0917 - as log_row
    resource: dict[str, Any],
    scope: str,
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
) -> tuple[Any, ...] | None:
    """The row of one span (the arguments of ``otlp._span_record``), or ``None``."""
    trace_id, span_id, parent_span_id = ids
    created = (end_ns or start_ns) / 1e9
    if not 0 <= created < 1e11:
        return None
    failed = status[0] == 2  # STATUS_CODE_ERROR
    duration_ms = round(max(0, end_ns - start_ns) / 1e6, 3)
    outcome = "error" if failed else "ok"
    message = f"span {name} {outcome} in {duration_ms:.3f} ms"
    service = resource.get("service")
    host = resource.get("host")
    data: dict[str, Any] = {}
    if "resource" in resource:
        data["resource"] = resource["resource"]
    data["span_name"] = name
    data["start"] = start_ns / 1e9
    data["duration_ms"] = duration_ms
    data["status"] = outcome
    if 0 < kind < 6:
        data["span_kind"] = _SPAN_KINDS[kind]
    if status[1]:
        data["status_message"] = status[1]
    for event in events:
        attributes = event.get("attributes") or {}
        if event.get("name") == "exception":
            exception = attributes.get("exception", {})
            data.setdefault("error_type", exception.get("type"))
            if exception.get("stacktrace"):
                data.setdefault("exception", exception["stacktrace"])
    if failed and "error_type" not in data and "error.type" in flat:
        data["error_type"] = flat["error.type"]
    if events:
        data["events"] = events
    if links:
        data["links"] = links
    if trace_state:
        data["trace_state"] = trace_state
    request_id: str | None = None
    nested: dict[str, Any] | None = None
    if flat:
        for target, names in _HTTP_FIELDS:
            value = _first_of(flat, names)
            if value is not None and target not in data:
                data[target] = value
        request_id = _request_id(flat)
        if _has_object(flat):
            return None
        nested = nest(flat)
    columns = _NONE
    if nested is not None and not _SPECIAL_NAMES.isdisjoint(nested):
        present = [
            ("service", service is not None),
            ("host", host is not None),
            ("trace_id", bool(trace_id)),
            ("span_id", bool(span_id)),
            ("parent_span_id", bool(parent_span_id)),
            ("request_id", request_id is not None),
        ]
        columns = _SPAN_COLUMNS | frozenset(name for name, here in present if here)
    head = (
        span_key(trace_id, span_id),
        _time_us(created),
        40 if failed else 20,
        (scope or "opentelemetry")[:MAX_SHORT],
        message[:MAX_STRING],
        _text_column(resource, "host"),
        _text_column(resource, "service"),
        _column(request_id),
        _column(trace_id),
        _column(span_id),
        _column(parent_span_id),
        None,
        None,
    )
    texts = (
        message,
        scope,
        service if isinstance(service, str) else "",
        host if isinstance(host, str) else "",
        request_id or "",
    )
    return _finish(data, nested, columns, head, texts)


# ---- protobuf (upb messages) -------------------------------------------------------------------


def attributes_pb(attributes: Any, any_value: Any) -> dict[str, Any]:
    """``{key: value}`` of repeated ``KeyValue``; ``any_value`` converts the values other than
    strings, integers and booleans (doubles, bytes, arrays, key-value lists)."""
    out: dict[str, Any] = {}
    for item in attributes:
        value = item.value
        which = value.WhichOneof("value")
        if which == "string_value":
            out[item.key] = value.string_value
        elif which == "int_value":
            out[item.key] = value.int_value
        elif which == "bool_value":
            out[item.key] = value.bool_value
        else:
            out[item.key] = any_value(value)
    return out


def _events_pb(spans_events: Any, any_value: Any) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for event in spans_events:
        events.append(
            {
                "name": event.name,
                "time": event.time_unix_nano / 1e9,
                "attributes": nest(attributes_pb(event.attributes, any_value)),
            }
        )
    return events


def protobuf_logs(request: Any, helpers: Any, rows: list[Any], errors: list[str], max_records: int) -> bool:
    """Append the row of each log record of ``request`` (a parsed ``ExportLogsServiceRequest``) to
    ``rows``, or the reason it was refused to ``errors``; ``False`` past ``max_records`` records.

    ``helpers`` (the reference module): ``_any_pb``, ``_resource_fields`` and ``_slow_log``, which
    makes the row of a record of an unusual shape (or the reason it is refused).
    """
    any_value = helpers._any_pb
    count = 0
    for resource_logs in request.resource_logs:
        resource: dict[str, Any] = helpers._resource_fields(
            attributes_pb(resource_logs.resource.attributes, any_value)
        )
        identity = f"{resource.get('service', '')}\x00{resource.get('host', '')}".encode()
        for scope_logs in resource_logs.scope_logs:
            scope: str = scope_logs.scope.name
            for log in scope_logs.log_records:
                count += 1
                if count > max_records:
                    return False
                if log.HasField("body"):
                    body_value = log.body
                    which = body_value.WhichOneof("value")
                    body: Any = body_value.string_value if which == "string_value" else any_value(body_value)
                    if body is None:
                        body = ""
                else:
                    body = ""
                args = (
                    resource,
                    scope,
                    log.time_unix_nano or log.observed_time_unix_nano,
                    log.severity_number,
                    log.severity_text,
                    body,
                    attributes_pb(log.attributes, any_value) if log.attributes else {},
                    hex_id(log.trace_id),
                    hex_id(log.span_id),
                    log.event_name,
                    key(b"log", identity, log.SerializeToString(deterministic=True)),
                )
                row = log_row(*args)
                if row is None:
                    made: Any = helpers._slow_log(args)  # a row, or why the record is refused
                    if isinstance(made, str):
                        errors.append(made)
                    else:
                        rows.append(made)
                    continue
                rows.append(row)
    return True


def protobuf_spans(request: Any, helpers: Any, rows: list[Any], errors: list[str], max_records: int) -> bool:
    """As :func:`protobuf_logs`, for the spans of an ``ExportTraceServiceRequest`` (``helpers``:
    ``_any_pb``, ``_resource_fields`` and ``_slow_span``)."""
    any_value = helpers._any_pb
    count = 0
    for resource_spans in request.resource_spans:
        resource: dict[str, Any] = helpers._resource_fields(
            attributes_pb(resource_spans.resource.attributes, any_value)
        )
        for scope_spans in resource_spans.scope_spans:
            scope: str = scope_spans.scope.name
            for span in scope_spans.spans:
                count += 1
                if count > max_records:
                    return False
                events: list[dict[str, Any]] = []
                links: list[dict[str, Any]] = []
                if span.events:
                    events = _events_pb(span.events, any_value)
                if span.links:
                    for link in span.links:
                        links.append({"trace_id": link.trace_id.hex(), "span_id": link.span_id.hex()})
                status = span.status
                args = (
                    resource,
                    scope,
                    span.name,
                    span.kind,
                    span.start_time_unix_nano,
                    span.end_time_unix_nano,
                    attributes_pb(span.attributes, any_value) if span.attributes else {},
                    (hex_id(span.trace_id), hex_id(span.span_id), hex_id(span.parent_span_id)),
                    (status.code, status.message),
                    events,
                    links,
                    span.trace_state,
                )
                row = span_row(*args)
                if row is None:
                    made: Any = helpers._slow_span(args)  # a row, or why the record is refused
                    if isinstance(made, str):
                        errors.append(made)
                    else:
                        rows.append(made)
                    continue
                rows.append(row)
    return True
