"""``GET /api/v1/requests`` (recent requests, slowest first on demand) and ``GET /api/v1/routes``
(per-route p50/p95/p99).

A request is the event of its web span: a span record (its message starts with ``span ``: those
of the logger ``c2cwsgiutils.spans`` and the spans of the OTLP intake) whose ``span_name`` is
``request`` or whose ``span_kind`` is ``server`` (what the Pyramid tween and the WSGI middleware
emit, and an OpenTelemetry server span). Its fields say the rest: ``duration_ms``, ``status``,
and, when the emitter gives them, ``method``, ``route`` (or ``route_pattern``) and ``status_code``.
The SQL statements of the listed requests are counted from their SQL span events (``span_kind``
``sql``), by request id.

Parameters of both (all optional): ``after``/``before`` (ISO 8601 or POSIX seconds, as the record
API), ``service``, ``route``, ``method``, ``status`` (``500``, ``5xx``, or ``error`` for a failed
span), ``min_duration_ms``, ``max_duration_ms``. ``/requests`` also takes ``sort`` (``time``,
newest first, the default; or ``duration``, slowest first), ``limit`` (default 50, at most
``C2C_COLLECTOR_MAX_PAGE``) and ``offset``.
"""

from __future__ import annotations

import json
import math
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from c2cwsgiutils.collector.http import api
from c2cwsgiutils.collector.http.app_state import CollectorState
from c2cwsgiutils.collector.query.filters import _json_parts, _starts_with, build_filter, query_to_sql
from c2cwsgiutils.collector.query.language import Compare, Node, Or
from c2cwsgiutils.collector.storage.schema import record_table

__all__ = ["MAX_ROUTE_SAMPLES", "includeme", "list_requests", "route_percentiles"]

SPANS_LOGGER = "c2cwsgiutils.spans"
DEFAULT_LIMIT = 50
MAX_ROUTE_SAMPLES = 200_000
"""``/routes`` reads at most this many requests (the newest of the range); ``truncated`` says so."""
_SORTS = ("time", "duration")


def _compare(field: str, operator: str, value: str | int | float) -> Compare:
    return Compare(field, operator, value, 0, 0, isinstance(value, str), str(value))


def _number(params: dict[str, str], name: str) -> float | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        raise api.ApiError(400, "invalid_parameter", f"{name} must be a number", parameter=name) from None
    if not math.isfinite(value) or value < 0:
        raise api.ApiError(400, "invalid_parameter", f"{name} must be a positive number", parameter=name)
    return value


def _status(raw: str) -> list[Node]:
    text = raw.strip().lower()
    if text == "error":
        return [_compare("data.status", "=", "error")]
    if len(text) == 3 and text[0] in "12345" and text[1:] == "xx":
        low = int(text[0]) * 100
        return [_compare("data.status_code", ">=", low), _compare("data.status_code", "<", low + 100)]
    if text.isdigit() and len(text) == 3:
        return [_compare("data.status_code", "=", int(text))]
    raise api.ApiError(
        400, "invalid_parameter", "status must be a code (500), a class (5xx) or error", parameter="status"
    )


def request_filter(params: dict[str, str], dialect: str) -> ColumnElement[bool]:
    """The WHERE clause of the root web span events matching the parameters."""
    table = record_table.c
    clauses: list[ColumnElement[bool]] = [
        # A text column first: the JSON of the other records is never parsed.
        _starts_with(table.message, "span "),
        query_to_sql(
            Or((_compare("data.span_name", "=", "request"), _compare("data.span_kind", "=", "server"))),
            dialect,
        ),
        build_filter({key: params[key] for key in ("after", "before") if params.get(key)}, dialect),
    ]
    nodes: list[Node] = []
    if params.get("service"):
        clauses.append(table.service == sa.bindparam(None, params["service"], sa.String()))
    if params.get("route"):
        route = params["route"]
        nodes.append(Or((_compare("data.route", "=", route), _compare("data.route_pattern", "=", route))))
    if params.get("method"):
        nodes.append(_compare("data.method", "=", params["method"].upper()))
    if params.get("status"):
        nodes.extend(_status(params["status"]))
    for name, operator in (("min_duration_ms", ">="), ("max_duration_ms", "<=")):
        value = _number(params, name)
        if value is not None:
            nodes.append(_compare("data.duration_ms", operator, value))
    clauses.extend(query_to_sql(node, dialect) for node in nodes)
    return sa.and_(*clauses)


def _duration(dialect: str) -> Any:
    return _json_parts(dialect, ["duration_ms"])[2]


def _row(record: dict[str, Any]) -> dict[str, Any]:
    data = record.get("data") or {}
    return {
        "request_id": record["request_id"],
        "trace_id": record["trace_id"],
        "span_id": record["span_id"],
        "record_id": record["id"],
        "ts": api._iso(record["time_us"]),
        "service": record["service"],
        "host": record["host"],
        "method": data.get("method") or data.get("http_method") or "",
        "route": data.get("route_pattern") or data.get("route") or "",
        "status_code": data.get("status_code"),
        "status": data.get("status") or "ok",
        "error_type": data.get("error_type") or "",
        "duration_ms": data.get("duration_ms"),
        "sql": {"count": 0, "duration_ms": 0.0},
        "view": "/api/v1/request/" + str(record["request_id"] or ""),
    }


def list_requests(state: CollectorState, params: dict[str, str]) -> dict[str, Any]:
    """The ``/api/v1/requests`` answer."""
    storage = state.storage
    sort = params.get("sort") or "time"
    if sort not in _SORTS:
        raise api.ApiError(400, "invalid_parameter", "sort must be time or duration", parameter="sort")
    limit = min(api._int_param(params, "limit", DEFAULT_LIMIT), state.settings.max_page)
    offset = api._int_param(params, "offset", 0)
    where = request_filter(params, storage.dialect)
    table = record_table
    order: list[Any] = (
        [_duration(storage.dialect).desc(), table.c.id.desc()]
        if sort == "duration"
        else [table.c.time_us.desc(), table.c.id.desc()]
    )
    statement = sa.select(table).where(where).order_by(*order).offset(offset).limit(limit)
    with storage.reader.connect() as connection:
        rows = [storage._with_data(dict(row._mapping)) for row in connection.execute(statement)]
        found = [_row(row) for row in rows]
        ids = sorted({row["request_id"] for row in found if row["request_id"]})
        if ids:
            sql_kind = query_to_sql(_compare("data.span_kind", "=", "sql"), storage.dialect)
            sql_name = query_to_sql(_compare("data.span_name", "=", "sql"), storage.dialect)
            totals = connection.execute(
                sa.select(table.c.request_id, sa.func.count(), sa.func.sum(_duration(storage.dialect)))
                .where(table.c.request_id.in_(ids), table.c.logger_name == SPANS_LOGGER, sql_kind, sql_name)
                .group_by(table.c.request_id)
            ).all()
            by_id = {request_id: (int(count), float(total or 0)) for request_id, count, total in totals}
            for row in found:
                count, total = by_id.get(row["request_id"], (0, 0.0))
                row["sql"] = {"count": count, "duration_ms": round(total, 3)}
    return {"requests": found, "count": len(found), "sort": sort, "limit": limit, "offset": offset}


def _percentile(ordered: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    index = max(0, math.ceil(fraction * len(ordered)) - 1)
    return round(ordered[index], 3)


def route_percentiles(state: CollectorState, params: dict[str, str]) -> dict[str, Any]:
    """The ``/api/v1/routes`` answer: per method and route, count, errors, p50/p95/p99, max."""
    storage = state.storage
    table = record_table
    where = request_filter(params, storage.dialect)
    statement = (
        sa.select(table.c.data)
        .where(where)
        .order_by(table.c.time_us.desc(), table.c.id.desc())
        .limit(MAX_ROUTE_SAMPLES + 1)
    )
    groups: dict[tuple[str, str], list[float]] = {}
    errors: dict[tuple[str, str], int] = {}
    with storage.reader.connect() as connection:
        rows = connection.execute(statement).scalars().all()
    truncated = len(rows) > MAX_ROUTE_SAMPLES
    for raw in rows[:MAX_ROUTE_SAMPLES]:
        data = json.loads(raw) if isinstance(raw, str) else raw  # a driver that does not decode JSON
        duration = data.get("duration_ms")
        if not isinstance(duration, (int, float)):
            continue
        key = (
            str(data.get("method") or data.get("http_method") or ""),
            str(data.get("route_pattern") or data.get("route") or ""),
        )
        groups.setdefault(key, []).append(float(duration))
        status_code = data.get("status_code")
        failed = data.get("status") == "error" or (isinstance(status_code, int) and status_code >= 500)
        errors[key] = errors.get(key, 0) + (1 if failed else 0)
    routes: list[dict[str, Any]] = []
    for (method, route), durations in groups.items():
        durations.sort()
        routes.append(
            {
                "method": method,
                "route": route,
                "count": len(durations),
                "errors": errors[(method, route)],
                "p50": _percentile(durations, 0.50),
                "p95": _percentile(durations, 0.95),
                "p99": _percentile(durations, 0.99),
                "max": round(durations[-1], 3),
            }
        )
    routes.sort(key=lambda entry: (-entry["p95"], entry["route"], entry["method"]))
    return {"routes": routes, "truncated": truncated}


@api.endpoint("reader")
def get_requests(request: Any, state: CollectorState) -> Any:
    """GET /api/v1/requests."""
    return api.json_response(list_requests(state, api._params(request)))


@api.endpoint("reader")
def get_routes(request: Any, state: CollectorState) -> Any:
    """GET /api/v1/routes."""
    return api.json_response(route_percentiles(state, api._params(request)))


def includeme(config: Any) -> None:
    """Add ``/api/v1/requests`` and ``/api/v1/routes``."""
    config.add_route("c2c_collector_requests", "/api/v1/requests")
    config.add_view(api.read_only(get_requests), route_name="c2c_collector_requests")
    config.add_route("c2c_collector_routes", "/api/v1/routes")
    config.add_view(api.read_only(get_routes), route_name="c2c_collector_routes")


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "schema": schema, "description": description}


_FILTERS: list[dict[str, Any]] = [
    _query("after", {"type": "string"}, "ISO 8601 time or POSIX seconds; requests that ended at or after it"),
    _query(
        "before", {"type": "string"}, "ISO 8601 time or POSIX seconds; requests that ended at or before it"
    ),
    _query("service", {"type": "string"}, "only this service"),
    _query("route", {"type": "string"}, "only this route (the event's route or route_pattern)"),
    _query("method", {"type": "string"}, "only this HTTP method"),
    _query("status", {"type": "string"}, "a status code (500), a class (5xx) or error"),
    _query("min_duration_ms", {"type": "number", "minimum": 0}, "at least this many milliseconds"),
    _query("max_duration_ms", {"type": "number", "minimum": 0}, "at most this many milliseconds"),
]
_ERROR = {
    "description": "error",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}


def openapi_paths() -> dict[str, Any]:
    """The OpenAPI paths of ``/api/v1/requests`` and ``/api/v1/routes``."""
    sql = {"type": "object", "properties": {"count": {"type": "integer"}, "duration_ms": {"type": "number"}}}
    row = {
        "type": "object",
        "required": ["request_id", "ts", "duration_ms", "sql", "view"],
        "properties": {
            "request_id": {"type": "string", "nullable": True},
            "ts": {"type": "string"},
            "method": {"type": "string"},
            "route": {"type": "string"},
            "status_code": {"type": "integer", "nullable": True},
            "status": {"type": "string"},
            "duration_ms": {"type": "number", "nullable": True},
            "sql": sql,
            "view": {"type": "string"},
        },
    }
    route = {
        "type": "object",
        "properties": {
            name: {"type": "string"} if name in ("method", "route") else {"type": "number"}
            for name in ("method", "route", "count", "errors", "p50", "p95", "p99", "max")
        },
    }
    errors = {str(status): _ERROR for status in (400, 401, 403)}
    return {
        "/api/v1/requests": {
            "get": {
                "summary": "Recent requests (root web spans): route, status, duration, SQL count and time",
                "parameters": [
                    *_FILTERS,
                    _query(
                        "sort", {"type": "string", "enum": list(_SORTS)}, "time (newest first) or duration"
                    ),
                    _query("limit", {"type": "integer", "minimum": 0}, "at most this many (default 50)"),
                    _query("offset", {"type": "integer", "minimum": 0}, "skip this many"),
                ],
                "responses": {
                    "200": {
                        "description": "the requests",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["requests", "count"],
                                    "properties": {
                                        "requests": {"type": "array", "items": row},
                                        "count": {"type": "integer"},
                                    },
                                }
                            }
                        },
                    },
                    **errors,
                },
            }
        },
        "/api/v1/routes": {
            "get": {
                "summary": "Per route: count, errors, p50/p95/p99 and max duration (ms)",
                "parameters": _FILTERS,
                "responses": {
                    "200": {
                        "description": "the routes",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["routes"],
                                    "properties": {
                                        "routes": {"type": "array", "items": route},
                                        "truncated": {"type": "boolean"},
                                    },
                                }
                            }
                        },
                    },
                    **errors,
                },
            }
        },
    }
