"""The OpenAPI 3 document of the collector API (``GET /api/v1/openapi.json``)."""

from __future__ import annotations

from typing import Any

from c2cwsgiutils.collector.http import api, requests_api
from c2cwsgiutils.collector.http.stream import TOKEN_COOKIE
from c2cwsgiutils.collector.wire import CORRELATION_COLUMNS

__all__ = ["error_responses", "includeme", "openapi_document", "openapi_view"]

_ERROR = {"$ref": "#/components/schemas/Error"}
_SHAPE: dict[str, Any] = {
    "name": "shape",
    "in": "query",
    "schema": {"type": "string", "enum": ["full", "chronologer"]},
    "description": "full: Chronologer's fields and ours; chronologer: Chronologer's only "
    "(default: C2C_COLLECTOR_RECORD_SHAPE)",
}
_FILTERS: list[dict[str, Any]] = [
    {
        "name": "after",
        "in": "query",
        "schema": {"type": "string"},
        "description": "ISO 8601 time or POSIX seconds; records at or after it",
    },
    {
        "name": "before",
        "in": "query",
        "schema": {"type": "string"},
        "description": "ISO 8601 time or POSIX seconds; records at or before it",
    },
    {
        "name": "level",
        "in": "query",
        "schema": {"type": "string"},
        "description": "minimum Python level: number or name (WARNING)",
    },
    {
        "name": "name",
        "in": "query",
        "schema": {"type": "string"},
        "description": "comma-separated logger name prefixes (ASCII letters in any case)",
    },
    {"name": "request_id", "in": "query", "schema": {"type": "string"}},
    {"name": "trace_id", "in": "query", "schema": {"type": "string"}},
    {"name": "query", "in": "query", "schema": {"type": "string"}, "description": "the filter language"},
]


def error_responses(*statuses: int) -> dict[str, Any]:
    return {
        str(status): {"description": "error", "content": {"application/json": {"schema": _ERROR}}}
        for status in statuses
    }


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def openapi_document(server_url: str = "") -> dict[str, Any]:
    """The OpenAPI 3.0 description of every collector endpoint."""
    summary = {"$ref": "#/components/schemas/Record"}
    batch = {"$ref": "#/components/schemas/BatchResult"}
    document: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": {"title": "c2cwsgiutils log collector", "version": "1"},
        "servers": [{"url": server_url or "/"}],
        "security": [{"bearer": []}, {"apiKey": []}, {"basic": []}, {}],
        "paths": {
            "/api/v1/record": {
                "post": {
                    "summary": "Store records: HTTPHandler form, one JSON object or an NDJSON batch",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/x-www-form-urlencoded": {
                                "schema": {"type": "object", "additionalProperties": {"type": "string"}}
                            },
                            "application/json": {"schema": {"type": "object"}},
                            "application/x-ndjson": {"schema": {"type": "string"}},
                        },
                    },
                    "responses": {
                        "200": _json(batch, "a single record its writer already stored (same c2c_uuid)"),
                        "201": _json(batch, "every record stored (or already there)"),
                        "207": _json(batch, "some lines were invalid; the others are stored"),
                        **error_responses(400, 401, 403, 413, 415, 503),
                    },
                },
                "head": {
                    "summary": "Count (X-Record-Count) or, with group, the timeline (X-Record-Group)",
                    "parameters": [
                        *_FILTERS,
                        {
                            "name": "group",
                            "in": "query",
                            "schema": {"type": "string", "enum": ["minute", "hour", "day"]},
                        },
                        {
                            "name": "timezone",
                            "in": "query",
                            "schema": {"type": "string"},
                            "description": "IANA name, default UTC",
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "counts in headers",
                            "headers": {
                                "X-Record-Count": {"schema": {"type": "string"}},
                                "X-Record-Group": {"schema": {"type": "string"}},
                            },
                        },
                        **error_responses(400, 401, 403),
                    },
                },
                "get": {
                    "summary": "Records newest first, from offset left to offset right (both inclusive)",
                    "parameters": [
                        *_FILTERS,
                        {"name": "left", "in": "query", "schema": {"type": "integer", "minimum": 0}},
                        {"name": "right", "in": "query", "schema": {"type": "integer", "minimum": 0}},
                        _SHAPE,
                    ],
                    "responses": {
                        "200": _json({"type": "array", "items": summary}, "records"),
                        **error_responses(400, 401, 403),
                    },
                },
            },
            "/api/v1/record/{id}": {
                "get": {
                    "summary": "One record with its data",
                    "parameters": [
                        {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}},
                        _SHAPE,
                    ],
                    "responses": {"200": _json(summary, "the record"), **error_responses(401, 403, 404)},
                }
            },
            "/api/v1/request/{request_id}": {
                "get": {
                    "summary": "Every record of one request, oldest first, with the span tree",
                    "parameters": [
                        {"name": "request_id", "in": "path", "required": True, "schema": {"type": "string"}}
                    ],
                    "responses": {
                        "200": _json({"$ref": "#/components/schemas/RequestView"}, "the request"),
                        **error_responses(400, 401, 403),
                    },
                }
            },
            **requests_api.openapi_paths(),
            "/api/v1/stream": {
                "get": {
                    "summary": "New matching records as Server-Sent Events (resume with Last-Event-ID)",
                    "security": [{"bearer": []}, {"apiKey": []}, {"basic": []}, {}],
                    "parameters": [
                        *_FILTERS,
                        {
                            "name": "Last-Event-ID",
                            "in": "header",
                            "schema": {"type": "string", "pattern": "^[0-9]{1,18}$"},
                            "description": "send the records after this id (default: from now on)",
                        },
                        {
                            "name": "last_id",
                            "in": "query",
                            "schema": {"type": "string", "pattern": "^[0-9]{1,18}$"},
                            "description": "same as Last-Event-ID, for clients that cannot set headers",
                        },
                        {
                            "name": "timeout",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 0, "maximum": 3600},
                            "description": "seconds after which the server ends the response (default 300)",
                        },
                        {
                            "name": "poll_ms",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 50, "maximum": 60000},
                            "description": "database polling interval in milliseconds (default 500)",
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "event stream: 'event: record', 'data: <Record JSON>'",
                            "content": {"text/event-stream": {"schema": {"type": "string"}}},
                        },
                        **error_responses(400, 401, 403),
                    },
                }
            },
            "/api/v1/status": {
                "get": {
                    "summary": "Count, ingestion rate, lag, storage size, last record per service/host",
                    "responses": {
                        "200": _json({"$ref": "#/components/schemas/Status"}, "the status"),
                        **error_responses(401, 403),
                    },
                }
            },
            **{
                f"/v1/{signal}": {
                    "post": {
                        "summary": f"OTLP/HTTP {signal} export (OpenTelemetry SDKs and Collector)",
                        "description": "Protobuf (`application/x-protobuf`) or OTLP/JSON, gzip accepted; "
                        "stored like `POST /api/v1/record` (docs/collector/otlp.md).",
                        "requestBody": {
                            "required": True,
                            "content": {
                                "application/json": {"schema": {"type": "object"}},
                                "application/x-protobuf": {"schema": {"type": "string", "format": "binary"}},
                            },
                        },
                        "responses": {
                            "200": {
                                "description": f"Export{kind}ServiceResponse (partialSuccess: refused)",
                                "content": {
                                    "application/json": {"schema": {"type": "object"}},
                                    "application/x-protobuf": {
                                        "schema": {"type": "string", "format": "binary"}
                                    },
                                },
                            },
                            **{
                                str(status): {
                                    "description": "google.rpc.Status: code and message",
                                    "content": {
                                        "application/json": {
                                            "schema": {
                                                "type": "object",
                                                "properties": {
                                                    "code": {"type": "integer"},
                                                    "message": {"type": "string"},
                                                },
                                            }
                                        },
                                        "application/x-protobuf": {
                                            "schema": {"type": "string", "format": "binary"}
                                        },
                                    },
                                }
                                for status in (400, 401, 403, 405, 413, 415)
                            },
                        },
                    }
                }
                for signal, kind in (("logs", "Logs"), ("traces", "Trace"))
            },
            "/api/v1/openapi.json": {
                "get": {
                    "summary": "This document",
                    "responses": {"200": _json({"type": "object"}, "OpenAPI")},
                }
            },
            "/health": {
                "get": {
                    "summary": "Liveness probe (Chronologer's): OK while the collector answers",
                    "responses": {
                        "200": {
                            "description": "OK",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        }
                    },
                }
            },
        },
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "basic": {"type": "http", "scheme": "basic"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "cookie": {"type": "apiKey", "in": "cookie", "name": TOKEN_COOKIE},
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["type", "message"],
                    "properties": {"type": {"type": "string"}, "message": {"type": "string"}},
                },
                "BatchResult": {
                    "type": "object",
                    "required": ["stored", "duplicates", "errors"],
                    "properties": {
                        "id": {"type": "integer", "nullable": True},
                        "stored": {"type": "integer"},
                        "duplicates": {"type": "integer"},
                        "errors": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {"line": {"type": "integer"}, "error": {"type": "string"}},
                            },
                        },
                    },
                },
                "Record": {
                    "type": "object",
                    "required": ["id", "name", "ts", "level", "message", "logrec"],
                    "properties": {
                        "id": {"type": "integer"},
                        "ts": {
                            "type": "string",
                            "description": "Chronologer's format: 2017-06-10 15:01:02.063507+00:00",
                        },
                        "logrec": {
                            "type": "object",
                            "description": "Chronologer's: LogRecord attributes in meta, the "
                            "exception in error, the user's fields in data (each only when not empty)",
                            "properties": {
                                "data": {"type": "object"},
                                "meta": {"type": "object"},
                                "error": {"type": "object"},
                            },
                        },
                        "uuid": {"type": "string", "nullable": True},
                        "time": {"type": "string", "description": "ISO 8601 UTC (not in shape=chronologer)"},
                        "created": {"type": "number"},
                        "level": {"type": "integer"},
                        "level_name": {"type": "string"},
                        "name": {"type": "string"},
                        "message": {"type": "string"},
                        **{key: {"type": "string", "nullable": True} for key in CORRELATION_COLUMNS},
                        "data": {"type": "object"},
                    },
                },
                "Status": {
                    "type": "object",
                    "required": ["now", "records", "lag_seconds", "rate_1m", "rate_5m", "storage", "sources"],
                    "properties": {
                        "now": {"type": "string"},
                        "records": {"type": "integer"},
                        "newest": {"type": "string", "nullable": True},
                        "lag_seconds": {
                            "type": "number",
                            "nullable": True,
                            "description": "seconds since the newest record's time",
                        },
                        "compiled": {
                            "type": "object",
                            "description": "per hot-path module: compiled, or plain Python and why",
                            "additionalProperties": {"type": "string"},
                        },
                        "rate_1m": {"type": "number"},
                        "rate_5m": {"type": "number"},
                        "storage": {
                            "type": "object",
                            "properties": {
                                "backend": {"type": "string"},
                                "bytes": {"type": "integer", "nullable": True},
                            },
                        },
                        "sources": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "service": {"type": "string", "nullable": True},
                                    "host": {"type": "string", "nullable": True},
                                    "records": {"type": "integer"},
                                    "last": {"type": "string"},
                                    "idle_seconds": {"type": "number"},
                                },
                            },
                        },
                    },
                },
                "OwnRecord": {
                    "type": "object",
                    "description": "A record in our own shape (request view, stream): no ts nor logrec",
                    "required": ["id", "time", "level", "name", "message"],
                    "properties": {
                        "id": {"type": "integer"},
                        "uuid": {"type": "string", "nullable": True},
                        "time": {"type": "string"},
                        "created": {"type": "number"},
                        "level": {"type": "integer"},
                        "level_name": {"type": "string"},
                        "name": {"type": "string"},
                        "message": {"type": "string"},
                        **{key: {"type": "string", "nullable": True} for key in CORRELATION_COLUMNS},
                        "data": {"type": "object"},
                    },
                },
                "RequestView": {
                    "type": "object",
                    "required": ["request_id", "count", "records", "spans", "roots"],
                    "properties": {
                        "request_id": {"type": "string"},
                        "count": {"type": "integer"},
                        "truncated": {"type": "boolean"},
                        "records": {"type": "array", "items": {"$ref": "#/components/schemas/OwnRecord"}},
                        "spans": {"type": "array", "items": {"type": "object"}},
                        "roots": {"type": "array", "items": {"type": "string"}},
                        # What the request did (request_view.py)
                        "duration_ms": {"type": "number", "nullable": True},
                        "sql": {"type": "object"},
                        "repeated": {"type": "array", "items": {"type": "object"}},
                        "slowest": {"type": "array", "items": {"type": "object"}},
                        "critical_path": {
                            "type": "array",
                            "items": {"type": "string"},
                            "description": "span ids on the critical path, the root first",
                        },
                        "complete": {
                            "type": "boolean",
                            "nullable": True,
                            "description": "every span has its event (null: no span event at all)",
                        },
                    },
                },
            },
        },
    }
    # The web UI's EventSource cannot send headers: it authenticates with a cookie it sets for a
    # path of its own, /api/v1/stream/<32 random hex digits>, where alone the cookie is accepted.
    stream = document["paths"]["/api/v1/stream"]["get"]
    document["paths"]["/api/v1/stream/{scope}"] = {
        "get": {
            **stream,
            "summary": stream["summary"] + "; the web UI's path, where the token cookie is accepted",
            "security": [*stream["security"][:-1], {"cookie": []}, {}],
            "parameters": [
                {
                    "name": "scope",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
                },
                *stream["parameters"],
            ],
        }
    }
    return document


def openapi_view(request: Any) -> Any:
    """GET /api/v1/openapi.json (public: it holds no data)."""
    return api.json_response(openapi_document(request.application_url))


def includeme(config: Any) -> None:
    """Add ``GET /api/v1/openapi.json`` (included by :func:`c2cwsgiutils.collector.http.api.includeme`).

    The view lives here rather than in :mod:`.api`: the document reads the other endpoints' modules,
    which import :mod:`.api`, so serving it from there made an import cycle.
    """
    config.add_route("c2c_collector_openapi", "/api/v1/openapi.json")
    config.add_view(api.read_only(openapi_view), route_name="c2c_collector_openapi")
