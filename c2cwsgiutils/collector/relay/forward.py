"""Relay collector (``c2cwsgiutils-logs serve --forward URL``): accept records, spool, forward upstream.

A relay answers the same ingestion API as a collector (``POST /api/v1/record`` with the same
formats, limits and credentials) but keeps no database. Each accepted record becomes one NDJSON
line of the wire schema *with a ``c2c_uuid``* (the client's key scoped to the client's credential
name, or a new one for records sent without: HTTPHandler forms, JSON objects, NDJSON lines
lacking it; the upstream scopes it again, to the relay, so clients stay apart) and the batch is
appended to the worker's spool segment and ``fdatasync``-ed **before** the 201 answer: that is
the durability point. A batch that does not fit in the spool (or cannot be written) answers 503
and nothing of it is kept, so a client's retry never duplicates a part of it.

Each worker process forwards its own spool (a :class:`~c2cwsgiutils.logging._collector_sender.Sender`
thread, the machinery of the CollectorHandler: keep-alive gzip batches, split on 413, back-off
with jitter) and deletes a segment once upstream acknowledged all of it. The segments of a worker
that died (its ``flock`` is free) are adopted by a live or restarted worker and forwarded from
their start: a resend at worst, which the upstream drops by its key, so every record is stored
upstream exactly once.

The read endpoints (``GET``/``HEAD /api/v1/record``, ``/api/v1/record/{id}``,
``/api/v1/request/{id}``, ``/api/v1/stream``, ``/api/v1/status``) and the web UI at ``/`` work on
a relay too: after the relay's own ``reader`` check, each query is answered by the upstream
collector (:mod:`c2cwsgiutils.collector.relay.proxy`), asked with the forwarding token.
"""

from __future__ import annotations

import atexit
import itertools
import json
import logging
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from c2cwsgiutils.collector import wire
from c2cwsgiutils.collector.http import api, openapi
from c2cwsgiutils.collector.http.auth import Authenticator, AuthError
from c2cwsgiutils.collector.http.stream import SCOPED_ROUTE, accept_token_cookie
from c2cwsgiutils.collector.intake import ingest
from c2cwsgiutils.collector.relay.proxy import Upstream, UpstreamError
from c2cwsgiutils.collector.settings import CollectorSettings
from c2cwsgiutils.collector.wire import CORRELATION_COLUMNS
from c2cwsgiutils.logging._collector_sender import Item, Sender
from c2cwsgiutils.logging.spool import Spool
from c2cwsgiutils.redaction import redact_url

__all__ = ["Forwarder", "RelayState", "get_relay", "includeme", "row_to_line"]

LOG = logging.getLogger(__name__)

_KEY = "c2cwsgiutils.collector.relay.forward"
_ROW_COLUMNS = CORRELATION_COLUMNS  # the row's columns 5..12 (see schema.INSERT_COLUMNS)
_BATCH_SIZE = 1000
_BATCH_MAX_BYTES = 1_000_000
_RETRY_MIN = 0.5
_RETRY_MAX = 15.0
_SCAN_INTERVAL = 10.0  # seconds between two looks for dead workers' segments
_STOP_SECONDS = 3.0
_ENCODER = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"))
_C2C_UUID = wire.C2C_UUID
_C2C_EXTRA = wire.C2C_EXTRA
_SCHEMA_NAMES = wire.SCHEMA_NAMES  # the wire fields that never reach ``data`` under their name
_WRITER_KEY = api.WRITER_KEY


def _new_uuid() -> str:
    return uuid.uuid4().hex


def _key(row: wire.Row, writer: str) -> str:
    """The ``c2c_uuid`` a relayed record carries: the client's key scoped to the client (so that
    the upstream, which scopes it again to the relay, keeps clients apart), or a new one."""
    return _new_uuid() if row[0] is None else ingest.scoped_key(writer, row[0])


def row_to_line(row: wire.Row, writer: str = "") -> str:
    """The NDJSON line (wire schema, with a ``c2c_uuid``) of a row parsed from a form or a JSON
    object. The ``data`` fields whose names the schema takes (a form's ``level``, ``host`` ...)
    go back into ``c2c_extra``, so that the upstream keeps them where this collector would."""
    record: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    template = None
    for name, value in json.loads(row[-1]).items():
        if name == "msg":  # the template of the message (ingest.record_to_row keeps it so)
            template = value
        elif name == _C2C_EXTRA and isinstance(value, dict):
            extra.update(value)
        elif name in _SCHEMA_NAMES:
            extra[name] = value
        else:
            record[name] = value
    record[_C2C_UUID] = _key(row, writer)
    record["created"] = row[1] / 1_000_000
    record["levelno"] = row[2]
    record["logger_name"] = row[3]
    if template is None:
        record["msg"] = row[4]
    else:  # the upstream keeps the template as this collector did
        record["msg"] = template
        record["message"] = row[4]
    for name, value in zip(_ROW_COLUMNS, row[5:13], strict=True):
        if value is not None:
            record[name] = value
    if extra:
        record[_C2C_EXTRA] = extra
    return _ENCODER.encode(record)


def _with_key(text: bytes, row: wire.Row, writer: str) -> str:
    """A valid JSON object's text as one line whose ``c2c_uuid`` is :func:`_key`."""
    record = json.loads(text)
    record[_C2C_UUID] = _key(row, writer)
    return _ENCODER.encode(record)


class _SpoolSource:
    """The :class:`~c2cwsgiutils.logging._collector_sender.Source` of a relay: only a spool."""

    def __init__(self, spool: Spool, spool_dir: str) -> None:
        self.spool = spool
        self.spool_dir = spool_dir
        self.batch_size = _BATCH_SIZE
        self.queue_size = 2**31  # no memory queue: the sender never spills
        self.dropped = 0
        self.emit_errors = 0
        self._appended = itertools.count(1)
        self.generation = 0  # changes after each durable append

    def appended(self) -> None:
        """Say that new lines are in the spool (called after ``append_durable``)."""
        self.generation = next(self._appended)

    def queued(self) -> int:
        return 0

    def take(self, max_items: int) -> list[Item]:
        return []

    def to_line(self, item: Item) -> str:
        raise NotImplementedError("a relay has no in-memory records")


class Forwarder(Sender):
    """A Sender whose only source is the spool: it wakes up for lines appended by the views."""

    label = "Relay collector"
    credentials_hint = "C2C_COLLECTOR_FORWARD_TOKEN"

    def __init__(self, source: _SpoolSource, **options: Any) -> None:
        super().__init__(source, **options)
        self.source = source
        self._seen = 0

    def _drain_queue(self) -> None:
        # Called at the top of every loop: the generation is read before the spool, so a line
        # appended meanwhile is seen now or at the next loop (after batch_age at most).
        generation = self.source.generation
        if generation != self._seen:
            self._seen = generation
            self.backlog = True


@dataclass
class RelayState:
    """The relay of one Pyramid registry (one worker process)."""

    settings: CollectorSettings
    authenticator: Authenticator
    spool: Spool
    source: _SpoolSource
    forwarder: Forwarder
    upstream: Upstream
    thread: threading.Thread = field(init=False)

    def __post_init__(self) -> None:
        self.thread = threading.Thread(target=self.forwarder.run, name="c2c-collector-relay", daemon=True)

    def start(self) -> None:
        """Open the spool (adopting dead workers' segments) and start forwarding."""
        self.spool.open()
        self.thread.start()

    def accept(self, lines: list[str]) -> bool:
        """Durably spool ``lines`` (all or none); ``False`` when the spool is full or unusable."""
        if not self.spool.append_durable(lines):
            return False
        self.source.appended()
        return True

    def close(self, seconds: float = _STOP_SECONDS) -> None:
        """Forward for ``seconds`` at most, then close the spool (the rest stays for the next start)."""
        if self.thread.is_alive():
            self.forwarder.stop(time.monotonic() + seconds)
            self.thread.join(seconds + 1.0)
        if not self.thread.is_alive():
            self.spool.close()


def get_relay(registry: Any) -> RelayState:
    """The :class:`RelayState` kept on a registry by ``includeme``."""
    return registry.__dict__[_KEY]  # type: ignore[no-any-return]


def _endpoint(role: str) -> Callable[[Callable[[Any, RelayState], Any]], Callable[[Any], Any]]:
    def decorate(func: Callable[[Any, RelayState], Any]) -> Callable[[Any], Any]:
        def view(request: Any) -> Any:
            state = get_relay(request.registry)
            try:
                principal = state.authenticator.require(request.headers, role)
                request.environ[_WRITER_KEY] = "" if principal is None else principal.name
                return func(request, state)
            except AuthError as exc:
                status, body, headers = api.error_for(exc, request.method, request.path_qs)
                return api.json_response(body, status, headers)
            except api.ApiError as exc:
                response = api.error_response(exc.status, exc.error_type, str(exc), **exc.extra)
                if exc.status == 503:
                    response.headers["Retry-After"] = "5"
                return response
            except Exception:
                LOG.exception("Relay error on %s %s", request.method, redact_url(request.path_qs)[:200])
                return api.error_response(500, "internal_error", "Unexpected error, see the collector's log")

        view.__name__ = func.__name__
        view.__doc__ = func.__doc__
        return view

    return decorate


# ---- ingestion ---------------------------------------------------------------------------------


def _ndjson_lines(body: bytes, max_records: int, writer: str) -> tuple[list[str], list[dict[str, Any]]]:
    """Valid lines (each with a ``c2c_uuid``) and per-line errors, as the collector would answer them."""
    raw_lines = body.split(b"\n")
    non_empty = sum(1 for line in raw_lines if line.strip())
    if non_empty > max_records:
        raise api.ApiError(
            413,
            "payload_too_large",
            f"{non_empty} records in one batch, more than the limit of {max_records}",
        )
    if non_empty == 0:
        raise api.ApiError(400, "invalid_body", "empty batch: send one JSON object per line")
    now = time.time()
    lines: list[str] = []
    errors: list[dict[str, Any]] = []
    for number, line in enumerate(raw_lines, 1):
        text = line.strip()
        if not text:
            continue
        try:
            row = ingest.parse_line(text, now)
        except ingest.BadRecord as exc:
            errors.append({"line": number, "error": str(exc)})
            continue
        lines.append(_with_key(text, row, writer))
    return lines, errors


def _parse(request: Any, state: RelayState) -> tuple[list[str], list[dict[str, Any]], bool]:
    """(lines, errors, single): the body's records as NDJSON lines with ``c2c_uuid`` keys."""
    limits = state.settings
    writer = request.environ.get(_WRITER_KEY, "")
    content_type = (request.content_type or "").lower()
    body = api.read_request_body(request, limits.max_body_bytes)
    if content_type == api.FORM_TYPE:
        try:
            fields = urllib.parse.parse_qsl(
                body.decode("latin-1"), keep_blank_values=True, max_num_fields=10_000
            )
            return [row_to_line(ingest.parse_form(fields), writer)], [], True
        except (ingest.BadRecord, ValueError) as exc:
            raise api.ApiError(400, "invalid_record", str(exc)) from None
    try:
        body = ingest.decode_body(body, request.headers.get("Content-Encoding", ""), limits.max_body_bytes)
    except ingest.BodyTooLarge as exc:
        raise api.ApiError(413, "payload_too_large", str(exc)) from None
    except ValueError as exc:
        raise api.ApiError(400, "invalid_body", str(exc)) from None
    if content_type == "application/json":
        try:
            row = ingest.parse_json_object(body)
        except ingest.BadRecord as exc:
            raise api.ApiError(400, "invalid_record", str(exc)) from None
        return [_with_key(body, row, writer)], [], True
    if content_type in api.NDJSON_TYPES:
        lines, errors = _ndjson_lines(body, limits.max_batch_records, writer)
        return lines, errors, False
    raise api.ApiError(
        415,
        "unsupported_media_type",
        f"Content-Type {content_type[:60]!r} is not accepted: use {api.FORM_TYPE}, application/json or "
        "application/x-ndjson",
    )


@_endpoint("writer")
def post_record(request: Any, state: RelayState) -> Any:
    """POST /api/v1/record: answered 201 once every valid record is fsynced in the spool."""
    lines, errors, single = _parse(request, state)
    if not lines:
        return api.json_response(
            {
                "type": "invalid_records",
                "message": "no valid record in the batch",
                "stored": 0,
                "duplicates": 0,
                "errors": errors,
            },
            400,
        )
    if not state.accept(lines):
        raise api.ApiError(
            503,
            "spool_full",
            "the relay's spool is full or unusable (upstream unreachable for long?): retry later",
            forward_url=state.settings.forward_url,
        )
    answer: dict[str, Any] = {"stored": len(lines), "duplicates": 0, "errors": errors, "relayed": True}
    if single:
        answer["id"] = None
    return api.json_response(answer, 207 if errors else 201)


@_endpoint("reader")
def proxied(request: Any, state: RelayState) -> Any:
    """A read endpoint of a relay: the upstream collector answers it."""
    if request.matched_route.name == SCOPED_ROUTE:  # the relay's own cookie scope, not the upstream's
        return _forward(request, state, "/api/v1/stream")
    path = request.matched_route.pattern
    for name, value in request.matchdict.items():
        path = path.replace(f"{{{name}}}", urllib.parse.quote(value, safe=""))
    return _forward(request, state, path)


def _forward(request: Any, state: RelayState, path: str) -> Any:
    try:
        return state.upstream.request(request.method, path, request.query_string, request.headers)
    except UpstreamError as exc:
        raise api.ApiError(exc.status, exc.error_type, str(exc), upstream=state.upstream.url) from None


def record_collection(request: Any) -> Any:
    """/api/v1/record: POST spools, GET and HEAD ask the upstream."""
    if request.method == "POST":
        return post_record(request)
    if request.method in ("GET", "HEAD"):
        return proxied(request)
    return api.method_not_allowed(request, "GET, HEAD, POST")


def relay_openapi_document(server_url: str, upstream: str) -> dict[str, Any]:
    """The collector's OpenAPI document, as a relay answers it (reads may also be 502 or 504)."""
    document = openapi.openapi_document(server_url)
    document["info"]["description"] = (
        f"A relay collector: POST /api/v1/record is spooled and forwarded to {upstream}; every "
        "read is answered by that upstream collector (502 when it cannot be reached or refuses "
        "the relay's token, 504 when it is too slow)."
    )
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in ("get", "head") and path != "/api/v1/openapi.json":
                operation["responses"].update(openapi.error_responses(502, 504))
            elif method == "post":
                operation["responses"].update(openapi.error_responses(503))
    return document


def includeme(config: Any) -> None:
    """Open the spool, start the forwarder thread, add the routes (relay mode of the collector)."""
    from c2cwsgiutils.collector.settings import collector_settings
    from c2cwsgiutils.config import ConfigError

    settings = collector_settings(config.registry)
    try:
        authenticator = Authenticator(settings.tokens, settings.credentials_file)
        spool = Spool(settings.forward_spool_dir, settings.forward_spool_max_bytes)
        source = _SpoolSource(spool, settings.forward_spool_dir)
        forwarder = Forwarder(
            source,
            url=settings.forward_url,
            token=settings.forward_token,
            batch_age=settings.forward_batch_age,
            timeout=10.0,
            retry_min=_RETRY_MIN,
            retry_max=_RETRY_MAX,
            report_interval=_SCAN_INTERVAL,
            batch_max_bytes=_BATCH_MAX_BYTES,
        )
        upstream = Upstream(settings.forward_url, settings.forward_token)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    state = RelayState(settings, authenticator, spool, source, forwarder, upstream)
    try:
        state.start()
    except OSError as exc:
        raise ConfigError(f"cannot open the relay spool {settings.forward_spool_dir}: {exc}") from None
    atexit.register(state.close)
    config.registry.__dict__[_KEY] = state
    config.add_route("c2c_collector_record", "/api/v1/record")
    config.add_view(record_collection, route_name="c2c_collector_record")

    def openapi_view(request: Any) -> Any:
        """GET /api/v1/openapi.json (public: it holds no data)."""
        return api.json_response(relay_openapi_document(request.application_url, upstream.url))

    config.add_route("c2c_collector_health", "/health")  # the liveness probe, as a collector's
    config.add_view(api.read_only(api.health_view), route_name="c2c_collector_health")
    config.add_route("c2c_collector_openapi", "/api/v1/openapi.json")
    config.add_view(api.read_only(openapi_view), route_name="c2c_collector_openapi")
    for name, pattern in (
        ("c2c_collector_record_id", "/api/v1/record/{id}"),
        ("c2c_collector_request", "/api/v1/request/{request_id}"),
        ("c2c_collector_status", "/api/v1/status"),
    ):
        config.add_route(name, pattern)
        config.add_view(api.read_only(proxied), route_name=name)
    config.add_route("c2c_collector_stream", "/api/v1/stream")
    config.add_view(api.read_only(proxied), route_name="c2c_collector_stream")
    config.add_route(SCOPED_ROUTE, "/api/v1/stream/{scope}")
    config.add_view(api.read_only(accept_token_cookie(proxied)), route_name=SCOPED_ROUTE)
    config.include("c2cwsgiutils.collector.http.ui")
