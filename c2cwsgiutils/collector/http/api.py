"""The collector's HTTP API under ``/api/v1`` (docs/collector/api.md has the table; openapi.py the document).

Every view answers JSON; every error is ``{"type": ..., "message": ..., "error": {...}}`` with a 4xx status
(a 500 only for a genuine bug or an unreachable database, logged with its traceback).
"""

from __future__ import annotations

import gzip
import json
import logging
from collections.abc import Callable
from typing import Any

import orjson

from c2cwsgiutils.collector.http import record_shape
from c2cwsgiutils.collector.http.admission import Refused
from c2cwsgiutils.collector.http.app_state import CollectorState, get_state
from c2cwsgiutils.collector.http.auth import BASIC_READER, AuthError
from c2cwsgiutils.collector.intake import ingest
from c2cwsgiutils.collector.query import request_view
from c2cwsgiutils.collector.query.filters import FilterError, build_filter
from c2cwsgiutils.collector.query.language import QuerySyntaxError
from c2cwsgiutils.collector.query.timeline import bucket_seconds, group_buckets, zone
from c2cwsgiutils.collector.storage import query_timeout
from c2cwsgiutils.redaction import redact_url

__all__ = [
    "ApiError",
    "error_answer",
    "error_for",
    "error_response",
    "includeme",
    "ingest_answer",
    "json_bytes",
    "json_response",
    "read_request_body",
    "shape_of",
]

LOG = logging.getLogger(__name__)

NDJSON_TYPES = frozenset(
    (
        "application/x-ndjson",
        "application/ndjson",
        "application/jsonl",
        "application/x-jsonlines",
        "application/jsonlines",
    )
)
FORM_TYPE = "application/x-www-form-urlencoded"
MAX_TIMELINE_PERIODS = 1500  # a day and a bit of minutes; ~17 KB per header at most
MAX_REQUEST_RECORDS_FACTOR = 10  # the request view returns up to 10 pages
WRITER_KEY = "c2cwsgiutils.collector.writer"  # environ: the caller's credential name


# Chronologer's Cache-Control values: a stored record never changes (about 30 days), while counts
# and ranges change with every record received.
CACHE_RECORD = "max-age=2600000"
CACHE_QUERY = "no-cache"


class ApiError(Exception):
    """An error answered as ``{"type": error_type, "message": message, **extra}``."""

    def __init__(self, status: int, error_type: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.extra = extra


# Non-string keys as json.dumps writes them; datetimes and dataclasses through default=str as
# json.dumps does (orjson would write them its own way).
_ORJSON_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def json_bytes(body: Any) -> bytes:
    """The JSON text of an answer, as every view of the API encodes it."""
    try:
        # orjson: a tenth of the time of json.dumps on the request view's 0.5 MB answer.
        return orjson.dumps(body, default=str, option=_ORJSON_OPTIONS)
    except (orjson.JSONEncodeError, TypeError):
        # What orjson refuses (an integer past 64 bits, a lone surrogate ...): as before.
        return json.dumps(body, ensure_ascii=False, default=str).encode("utf-8")


# Our error type -> the exception class Chronologer names in its ``{"error": {"type", "message"}}``
# (its model, storage and CherryPy errors); any other is a CherryPy ``HTTPError``.
CHRONOLOGER_ERROR_TYPES = {
    "invalid_record": "ModelError",
    "query_syntax_error": "StorageQueryError",
    "invalid_parameter": "ValueError",
    "payload_too_large": "StorageSizeLimitError",
}


def error_answer(
    status: int, error_type: str, message: str, **extra: Any
) -> tuple[dict[str, Any], dict[str, str]]:
    """(JSON answer, extra headers) of an error: our ``type``, ``message`` and details, and
    Chronologer's ``error`` object (``{"type": <its exception class>, "message": ...}``)."""
    headers = {"WWW-Authenticate": 'Basic realm="c2cwsgiutils collector"'} if status == 401 else {}
    chronologer = {"type": CHRONOLOGER_ERROR_TYPES.get(error_type, "HTTPError"), "message": message}
    return {"type": error_type, "message": message, **extra, "error": chronologer}, headers


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Any:
    from pyramid.response import Response

    response = Response(
        body=json_bytes(body),
        status=status,
        content_type="application/json",
        charset="utf-8",
    )
    if headers:
        response.headers.update(headers)
    return response


def error_response(status: int, error_type: str, message: str, **extra: Any) -> Any:
    body, headers = error_answer(status, error_type, message, **extra)
    return json_response(body, status, headers)


def error_for(exc: Exception, method: str, path_qs: str) -> tuple[int, dict[str, Any], dict[str, str]]:
    """(status, JSON answer, extra headers) of an error raised by a view; logs unexpected ones."""
    if isinstance(exc, AuthError):
        if exc.status == 429:
            answer, _ = error_answer(429, "too_many_attempts", str(exc))
            return 429, answer, {"Retry-After": str(exc.retry_after)}
        error_type = "unauthorized" if exc.status == 401 else "forbidden"
        return exc.status, *error_answer(exc.status, error_type, str(exc))
    if isinstance(exc, ApiError):
        return exc.status, *error_answer(exc.status, exc.error_type, str(exc), **exc.extra)
    if isinstance(exc, Refused):
        body, _ = error_answer(exc.status, exc.error_type, str(exc), retry_after=exc.retry_after)
        return exc.status, body, {"Retry-After": str(exc.retry_after)}
    if isinstance(exc, QuerySyntaxError):
        return 400, *error_answer(
            400, "query_syntax_error", str(exc), position=exc.position, parameter="query"
        )
    if isinstance(exc, FilterError):
        return 400, *error_answer(400, "invalid_parameter", str(exc), parameter=exc.parameter)
    if query_timeout.is_query_timeout(exc):
        message = "the query ran past C2C_COLLECTOR_QUERY_TIMEOUT: narrow it (after/before, level, name)"
        return 503, *error_answer(503, "query_timeout", message)
    LOG.error("Collector error on %s %s", method, redact_url(path_qs)[:200], exc_info=exc)
    return 500, *error_answer(500, "internal_error", "Unexpected error, see the collector's log")


def endpoint(role: str) -> Callable[[Callable[[Any, CollectorState], Any]], Callable[[Any], Any]]:
    """Wrap a view: check ``role``, pass the state, turn every error into a JSON answer."""

    def decorate(func: Callable[[Any, CollectorState], Any]) -> Callable[[Any], Any]:
        def view(request: Any) -> Any:
            state = get_state(request.registry)
            try:
                needed = role
                if role == "reader" and not request.GET.get("query"):
                    needed = BASIC_READER  # a read without query=: Chronologer's basic-reader may
                principal = state.authenticator.require(request.headers, needed)
                request.environ[WRITER_KEY] = "" if principal is None else principal.name
                response = func(request, state)
            except Exception as exc:
                status, body, headers = error_for(exc, request.method, request.path_qs)
                if request.method == "HEAD":
                    # A HEAD answer has no body: say what went wrong in headers, as Chronologer does.
                    headers = {**headers, **error_headers(body)}
                response = json_response(body, status, headers)
            if request.method in ("GET", "HEAD"):
                compress_json(request.headers.get("Accept-Encoding", ""), response)
            return response

        view.__name__ = func.__name__
        view.__doc__ = func.__doc__
        return view

    return decorate


def preferred_encoding(accept_encoding: str) -> str:
    """The content coding ``Accept-Encoding`` prefers (highest q, then the first listed); ``""``."""
    best, best_q = "", 0.0
    for item in accept_encoding.split(",")[:20]:
        coding, _, params = item.strip().partition(";")
        q = 1.0
        name, _, value = params.strip().partition("=")
        if name.strip() == "q":
            try:
                q = float(value)
            except ValueError:
                q = 0.0
        if q > best_q:
            best, best_q = coding.strip().lower(), q
    return best


def compress_json(accept_encoding: str, response: Any) -> None:
    """Gzip a JSON answer when the client prefers gzip, as Chronologer does (level 6).

    Only JSON answers with their body in memory: the live stream (text/event-stream) is left alone.
    """
    if response.content_type != "application/json":
        return
    response.vary = ("Accept-Encoding",)
    if preferred_encoding(accept_encoding) == "gzip" and response.body:
        response.body = gzip.compress(response.body, compresslevel=6, mtime=0)
        response.content_encoding = "gzip"


def _header_text(value: Any, limit: int = 200) -> str:
    text = "".join(c if " " <= c <= "~" else "?" for c in str(value))
    return text[:limit]


def error_headers(body: dict[str, Any]) -> dict[str, str]:
    """``X-Error-Type`` and ``X-Error-Message`` of an error answer (printable ASCII, bounded)."""
    return {
        "X-Error-Type": _header_text(body.get("type", "")),
        "X-Error-Message": _header_text(body.get("message", "")),
    }


def _iso(time_us: int) -> str:
    return record_shape.iso_time(time_us)


def shape_of(params: dict[str, str], state: CollectorState) -> str:
    """The record shape asked for: ``?shape=`` or ``C2C_COLLECTOR_RECORD_SHAPE``."""
    shape = params.get("shape") or state.settings.record_shape
    if shape not in record_shape.SHAPES:
        raise ApiError(
            400,
            "invalid_parameter",
            f"shape must be one of {', '.join(record_shape.SHAPES)}",
            parameter="shape",
        )
    return shape


def _params(request: Any) -> dict[str, str]:
    params: dict[str, str] = {}
    for key, value in request.GET.items():
        if "\x00" in value or "\x00" in key:
            raise ApiError(400, "invalid_parameter", f"{key[:40]!r} contains a NUL character", parameter=key)
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ApiError(
                400, "invalid_parameter", f"{key[:40]!r} is not valid UTF-8", parameter=key
            ) from None
        params[key] = value
    return params


def _int_param(params: dict[str, str], name: str, default: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, "invalid_parameter", f"{name} must be an integer", parameter=name) from None
    if not 0 <= value < 2**62:
        raise ApiError(400, "invalid_parameter", f"{name} must be a positive integer", parameter=name)
    return value


# ---- ingestion ---------------------------------------------------------------------------------


def read_body(content_length: int | None, stream: Any, limit: int) -> bytes:
    """At most ``limit`` bytes of a request body; raises ApiError 413 past that."""
    if content_length is not None and content_length > limit:
        raise ApiError(
            413, "payload_too_large", f"body of {content_length} bytes exceeds the limit of {limit} bytes"
        )
    # The raw input stream: WebOb's request.body would first copy the body into a seekable buffer.
    body: bytes = stream.read(limit + 1 if content_length is None else content_length)
    if len(body) > limit:
        raise ApiError(413, "payload_too_large", f"body exceeds the limit of {limit} bytes")
    return body


def read_request_body(request: Any, limit: int) -> bytes:
    # The relay's (relay.py) way in: a WebOb request.
    return read_body(request.content_length, request.body_file_raw, limit)


def ingest_answer(
    state: CollectorState,
    content_type: str,
    content_encoding: str,
    content_length: int | None,
    stream: Any,
    *,
    writer: str = "",
    shape: str = "full",
) -> tuple[int, dict[str, Any]]:
    """(status, JSON answer) of a POST /api/v1/record; raises ApiError, or Refused (503 with
    ``Retry-After``: too many requests in progress, or the storage is down).

    Shared by the Pyramid view and :mod:`fast_ingest`: ``content_type`` without its parameters,
    lower-cased; ``writer`` the caller's credential name ("" without credentials), to which the
    records' idempotency keys belong; the records are committed when this returns.
    """
    try:
        return state.admission.run(
            lambda: _ingest(
                state, content_type, content_encoding, content_length, stream, writer=writer, shape=shape
            )
        )
    except Refused:
        discard_body(content_length, stream, state.settings.max_body_bytes)
        raise


def discard_body(content_length: int | None, stream: Any, limit: int) -> None:
    """Read what is left of a refused request's body (at most ``limit`` bytes), so that the
    server keeps the client's keep-alive connection open for its retry."""
    left = min(content_length or 0, limit)
    while left > 0:
        chunk = stream.read(min(left, 65536))
        if not chunk:
            return
        left -= len(chunk)


def _ingest(
    state: CollectorState,
    content_type: str,
    content_encoding: str,
    content_length: int | None,
    stream: Any,
    *,
    writer: str,
    shape: str,
) -> tuple[int, dict[str, Any]]:
    limit = state.settings.max_body_bytes
    body = read_body(content_length, stream, limit)
    if content_type == FORM_TYPE:
        try:
            row = ingest.parse_form_body(body)
        except (ingest.BadRecord, ValueError) as exc:
            raise ApiError(400, "invalid_record", str(exc)) from None
        return _store_one(state, row, writer, shape)
    try:
        body = ingest.decode_body(body, content_encoding, limit)
    except ingest.BodyTooLarge as exc:
        raise ApiError(413, "payload_too_large", str(exc)) from None
    except ValueError as exc:
        raise ApiError(400, "invalid_body", str(exc)) from None
    if content_type == "application/json":
        try:
            row = ingest.parse_json_object(body)
        except ingest.BadRecord as exc:
            raise ApiError(400, "invalid_record", str(exc)) from None
        return _store_one(state, row, writer, shape)
    if content_type in NDJSON_TYPES:
        return _store_batch(state, body, writer)
    raise ApiError(
        415,
        "unsupported_media_type",
        f"Content-Type {content_type[:60]!r} is not accepted: use {FORM_TYPE}, application/json or "
        "application/x-ndjson",
    )


def _post(request: Any, state: CollectorState) -> Any:
    status, answer = ingest_answer(
        state,
        (request.content_type or "").lower(),
        request.headers.get("Content-Encoding", ""),
        request.content_length,
        request.body_file_raw,
        writer=request.environ.get(WRITER_KEY, ""),
        shape=shape_of(_params(request), state),
    )
    return json_response(answer, status)


def _store_one(
    state: CollectorState, row: tuple[Any, ...], writer: str, shape: str
) -> tuple[int, dict[str, Any]]:
    if row[0] is not None:
        row = (ingest.scoped_key(writer, row[0]), *row[1:])
    rows = [row]
    result = state.admission.store(lambda: state.storage.insert(rows))
    # As Chronologer: the stored record (what a GET of its id answers), our counts beside it.
    answer = record_shape.present(record_shape.row_dict(row, result.first_id), shape)
    if shape != "chronologer":
        answer.update(stored=result.stored, duplicates=1 - result.stored, errors=[])
    return (201 if result.stored else 200), answer


def _store_batch(state: CollectorState, body: bytes, writer: str) -> tuple[int, dict[str, Any]]:
    try:
        batch = ingest.parse_ndjson(body, state.settings.max_batch_records)
    except ingest.BodyTooLarge as exc:
        raise ApiError(413, "payload_too_large", str(exc)) from None
    if batch.lines == 0:
        raise ApiError(400, "invalid_body", "empty batch: send one JSON object per line")
    rows = ingest.scope_rows(batch.rows, writer)
    result = state.admission.store(lambda: state.storage.insert(rows))
    answer = {"stored": result.stored, "duplicates": result.duplicates, "errors": batch.errors}
    if not batch.errors:
        return 201, answer
    if batch.rows:
        return 207, answer
    refused, _ = error_answer(400, "invalid_records", "no valid record in the batch", **answer)
    return 400, refused


# ---- queries -----------------------------------------------------------------------------------


def _head(request: Any, state: CollectorState) -> Any:
    from pyramid.response import Response

    params = _params(request)
    where = build_filter(params, state.storage.dialect)
    group = params.get("group")
    response = Response(status=200, content_type="application/json")
    response.headers["Cache-Control"] = CACHE_QUERY
    if not group:
        response.headers["X-Record-Count"] = str(state.storage.count(where))
        return response
    try:
        seconds = bucket_seconds(group)
    except ValueError as exc:
        raise ApiError(400, "invalid_parameter", str(exc), parameter="group") from None
    try:
        tz = zone(params.get("timezone") or "UTC")
    except ValueError as exc:
        raise ApiError(400, "invalid_parameter", str(exc), parameter="timezone") from None
    periods = group_buckets(state.storage.buckets(where, seconds), group, tz)
    if len(periods) > MAX_TIMELINE_PERIODS:
        # Two headers of one entry per period: a minute timeline over weeks made 220 KB of headers,
        # past what HTTP clients take (http.client: LineTooLong).
        raise ApiError(
            400,
            "too_many_periods",
            f"{len(periods)} periods of one {group}, more than {MAX_TIMELINE_PERIODS}: narrow the range "
            "(after, before) or group by a longer period",
            parameter="group",
        )
    response.headers["X-Record-Count"] = ",".join(str(count) for _, count in periods)
    response.headers["X-Record-Group"] = ",".join(str(start) for start, _ in periods)
    return response


def _get_range(request: Any, state: CollectorState) -> Any:
    # Chronologer's shape: ``left`` and ``right`` are both inclusive offsets (0..99 is 100 rows);
    # as Chronologer, right < left is an empty range and a range wider than a page is cut to it.
    params = _params(request)
    page = state.settings.max_page
    left = _int_param(params, "left", 0)
    right = min(_int_param(params, "right", left + min(page, 100) - 1), left + page - 1)
    where = build_filter(params, state.storage.dialect)
    shape = shape_of(params, state)
    rows = state.storage.range(where, left, right - left + 1, with_data=True) if right >= left else []
    return json_response(
        [record_shape.present(row, shape) for row in rows], headers={"Cache-Control": CACHE_QUERY}
    )


@endpoint("writer")
def post_record(request: Any, state: CollectorState) -> Any:
    """POST /api/v1/record."""
    return _post(request, state)


@endpoint("reader")
def query_records(request: Any, state: CollectorState) -> Any:
    """GET and HEAD /api/v1/record."""
    if request.method == "HEAD":
        return _head(request, state)
    return _get_range(request, state)


def record_collection(request: Any) -> Any:
    """Dispatch /api/v1/record by method (HEAD and GET share the reader role)."""
    if request.method == "POST":
        return post_record(request)
    if request.method in ("GET", "HEAD"):
        return query_records(request)
    return method_not_allowed(request, "GET, HEAD, POST")


def method_not_allowed(request: Any, allowed: str) -> Any:
    """405 with the methods the path accepts."""
    response = error_response(
        405, "method_not_allowed", f"{request.method[:20]} is not allowed here (use {allowed})"
    )
    response.headers["Allow"] = allowed
    return response


def read_only(view: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Let ``view`` answer GET and HEAD, and 405 anything else."""

    def guarded(request: Any) -> Any:
        if request.method not in ("GET", "HEAD"):
            return method_not_allowed(request, "GET, HEAD")
        return view(request)

    return guarded


@endpoint("reader")
def get_record(request: Any, state: CollectorState) -> Any:
    """GET /api/v1/record/{id}."""
    raw = request.matchdict["id"]
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise ApiError(404, "not_found", "no such record")
    shape = shape_of(_params(request), state)
    row = state.storage.get(int(raw))
    if row is None:
        raise ApiError(404, "not_found", f"no record {raw}")
    return json_response(record_shape.present(row, shape), headers={"Cache-Control": CACHE_RECORD})


@endpoint("reader")
def get_request(request: Any, state: CollectorState) -> Any:
    """GET /api/v1/request/{request_id}: every record of one request and its span tree."""
    request_id = request.matchdict["request_id"]
    if "\x00" in request_id or len(request_id) > 512:
        raise ApiError(400, "invalid_parameter", "invalid request id", parameter="request_id")
    limit = state.settings.max_page * MAX_REQUEST_RECORDS_FACTOR
    rows = state.storage.by_request(request_id, limit + 1)
    truncated = len(rows) > limit
    records = [record_shape.present_ours(row) for row in rows[:limit]]
    tree = span_tree(records)
    return json_response(
        {
            "request_id": request_id,
            "count": len(records),
            "truncated": truncated,
            "records": records,
            **tree,
            **request_view.summarise(records, tree["spans"]),
        }
    )


def span_tree(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Spans of ordered records: each with its parent, children, services and time bounds.

    ``spans`` lists every span once, each after its parent (depth first, as the tree is drawn).
    """
    spans: dict[str, dict[str, Any]] = {}
    for record in records:
        span_id = record.get("span_id")
        if not span_id:
            continue
        span = spans.get(span_id)
        if span is None:
            span = spans[span_id] = {
                "span_id": span_id,
                "parent_span_id": record.get("parent_span_id"),
                "trace_id": record.get("trace_id"),
                "services": [],
                "kinds": [],
                "first": record["time"],
                "last": record["time"],
                "records": 0,
                "children": [],
            }
        span["records"] += 1
        span["last"] = record["time"]
        if not span["parent_span_id"] and record.get("parent_span_id"):
            span["parent_span_id"] = record["parent_span_id"]
        for key, plural in (("service", "services"), ("kind", "kinds")):
            value = record.get(key)
            if value and value not in span[plural]:
                span[plural].append(value)
    roots = link_spans(spans)
    # Parents before their children, in the order the tree is drawn (depth first): record order is
    # not that. A span's event is written when it ends, so a Celery task's first record (received)
    # comes before the event of the span that sent it, and both before the request's.
    ordered: list[dict[str, Any]] = []
    stack = list(reversed(roots))
    while stack:
        span = spans[stack.pop()]
        ordered.append(span)
        stack.extend(reversed(span["children"]))
    return {"spans": ordered, "roots": roots}


MAX_SPAN_DEPTH = 64


def link_spans(spans: dict[str, dict[str, Any]]) -> list[str]:
    """Fill each span's ``children`` so that they form a forest; return its roots.

    Writers send the parent ids, so they may form a cycle or a chain thousands deep (issue #18):
    a span of a cycle that no root reaches becomes a root itself (``"cycle": true``), and the
    descendants of a span ``MAX_SPAN_DEPTH - 1`` deep are its children directly (``"flattened":
    true``). Every span is in the forest once, no deeper than ``MAX_SPAN_DEPTH``; no recursion.
    """
    children: dict[str, list[str]] = {}
    roots: list[str] = []
    for span_id, span in spans.items():
        parent = span["parent_span_id"] or ""
        if parent in spans and parent != span_id:
            children.setdefault(parent, []).append(span_id)
        else:
            roots.append(span_id)
    placed: set[str] = set()

    def place(root: str) -> None:
        # (span, its depth, the span whose children list takes it, whether it was moved up there)
        stack: list[tuple[str, int, str | None, bool]] = [(root, 0, None, False)]
        while stack:
            span_id, depth, holder, flat = stack.pop()
            if span_id in placed:
                continue
            placed.add(span_id)
            span = spans[span_id]
            span["depth"] = depth
            if holder is not None:
                spans[holder]["children"].append(span_id)
            if flat:
                span["flattened"] = True
            for child in reversed(children.get(span_id, ())):
                if flat:  # below the cap: beside this span, under the same holder
                    stack.append((child, depth, holder, True))
                elif depth >= MAX_SPAN_DEPTH - 1:
                    stack.append((child, depth + 1, span_id, True))
                else:
                    stack.append((child, depth + 1, span_id, False))

    for root in roots:
        place(root)
    for span_id, span in spans.items():  # cycles that no root reaches
        if span_id not in placed:
            span["cycle"] = True
            roots.append(span_id)
            place(span_id)
    return roots


def includeme(config: Any) -> None:
    """Add the /api/v1 routes and views (the state must already be on the registry)."""
    config.add_route("c2c_collector_record", "/api/v1/record")
    config.add_view(record_collection, route_name="c2c_collector_record")
    # Chronologer answers with a trailing slash too (its UI and scripts use both spellings).
    config.add_route("c2c_collector_record_slash", "/api/v1/record/")
    config.add_view(record_collection, route_name="c2c_collector_record_slash")
    config.add_route("c2c_collector_health", "/health")
    config.add_view(read_only(health_view), route_name="c2c_collector_health")
    config.include("c2cwsgiutils.collector.http.openapi")
    config.add_route("c2c_collector_record_id", "/api/v1/record/{id}")
    config.add_view(read_only(get_record), route_name="c2c_collector_record_id")
    config.add_route("c2c_collector_request", "/api/v1/request/{request_id}")
    config.add_view(read_only(get_request), route_name="c2c_collector_request")
    config.include("c2cwsgiutils.collector.http.stream")
    config.include("c2cwsgiutils.collector.http.status_api")


def health_view(request: Any) -> Any:
    """GET /health: ``OK`` while the collector answers (Chronologer's liveness probe; no auth)."""
    from pyramid.response import Response

    return Response(body=b"OK", status=200, content_type="text/plain", charset="utf-8")


def not_found(request: Any) -> Any:
    """JSON 404 for any path the collector does not serve."""
    return error_response(404, "not_found", f"no such path: {request.path[:200]}")
