"""The fast ingest path answers exactly like the Pyramid view, through two real servers.

The same requests go to a collector with ``C2C_COLLECTOR_FAST_INGEST`` on and to one with it
off (both fresh, so the ids match): status, headers and body must be the same.
"""

from __future__ import annotations

import gzip
import http.client
import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.collector.records import httphandler_form, ndjson, wire
from tests.collector.serve import serve_collector

TOKENS = "logger:writer:pw,ui:reader:rd"
WRITER = {"Authorization": "Bearer pw"}
NDJSON = {**WRITER, "Content-Type": "application/x-ndjson"}
# Headers the HTTP server adds on its own (a date changes between the two answers).
SERVER_HEADERS = {"date", "server", "connection", "keep-alive"}

ONE = wire("one", c2c_uuid="0" * 31 + "1")
REQUESTS: list[tuple[str, str, bytes, dict[str, str]]] = [
    (
        "HTTPHandler form",
        "/api/v1/record",
        httphandler_form(user_id=7).encode(),
        {**WRITER, "Content-Type": "application/x-www-form-urlencoded"},
    ),
    (
        "JSON object",
        "/api/v1/record",
        json.dumps(ONE).encode(),
        {**WRITER, "Content-Type": "application/json"},
    ),
    (
        "the same JSON object again (duplicate)",
        "/api/v1/record",
        json.dumps(ONE).encode(),
        {**WRITER, "Content-Type": "application/json; charset=utf-8"},
    ),
    ("NDJSON batch", "/api/v1/record", ndjson(wire("a"), wire("b"), ONE), NDJSON),
    (
        "gzip NDJSON batch",
        "/api/v1/record",
        gzip.compress(ndjson(wire("c"))),
        {**NDJSON, "Content-Encoding": "gzip"},
    ),
    ("mixed batch", "/api/v1/record", ndjson(wire("ok")) + b"{nope\n[1]\n", NDJSON),
    ("only bad lines", "/api/v1/record", b"nope\n{\n", NDJSON),
    ("empty batch", "/api/v1/record", b"\n\n", NDJSON),
    ("too many records", "/api/v1/record", ndjson(*(wire(str(i)) for i in range(6))), NDJSON),
    ("body over the limit", "/api/v1/record", b"x" * 5000, NDJSON),
    (
        "gzip past the limit",
        "/api/v1/record",
        gzip.compress(b"\n" * 5000),
        {**NDJSON, "Content-Encoding": "gzip"},
    ),
    ("not gzip", "/api/v1/record", b"plain", {**NDJSON, "Content-Encoding": "gzip"}),
    ("unknown encoding", "/api/v1/record", b"{}", {**NDJSON, "Content-Encoding": "br"}),
    ("unsupported type", "/api/v1/record", b"<xml/>", {**WRITER, "Content-Type": "text/xml"}),
    (
        "bad form",
        "/api/v1/record",
        b"created=soon",
        {**WRITER, "Content-Type": "application/x-www-form-urlencoded"},
    ),
    ("no credentials", "/api/v1/record", ndjson(wire()), {"Content-Type": "application/x-ndjson"}),
    (
        "reader role",
        "/api/v1/record",
        ndjson(wire()),
        {"Content-Type": "application/x-ndjson", "X-API-Key": "rd"},
    ),
    ("with a query string", "/api/v1/record?x=1", ndjson(wire("q")), NDJSON),
    ("incoming request ID", "/api/v1/record", ndjson(wire("r")), {**NDJSON, "X-Request-ID": "abc-123"}),
]


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, int]]:
    env = {
        "C2C_COLLECTOR_TOKENS": TOKENS,
        "C2C_COLLECTOR_MAX_BODY_BYTES": "4096",
        "C2C_COLLECTOR_MAX_BATCH_RECORDS": "5",
    }
    fast_dir, slow_dir = tmp_path_factory.mktemp("fast"), tmp_path_factory.mktemp("slow")
    with (
        serve_collector(fast_dir, env={**env, "C2C_COLLECTOR_FAST_INGEST": "true"}) as fast,
        serve_collector(slow_dir, env={**env, "C2C_COLLECTOR_FAST_INGEST": "false"}) as slow,
    ):
        yield fast, slow


def _send(port: int, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    # A connection per request: after a 413 the server may close it without reading the body.
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        connection.request("POST", path, body, headers=headers)
        response = connection.getresponse()
        content = response.read()
    finally:
        connection.close()
    kept = {
        name.lower(): value for name, value in response.getheaders() if name.lower() not in SERVER_HEADERS
    }
    return response.status, kept, content


def _answers(port: int) -> list[tuple[str, int, dict[str, str], bytes]]:
    answers = []
    for name, path, body, headers in REQUESTS:
        status, kept, content = _send(port, path, body, headers)
        if "X-Request-ID" not in headers:  # a fresh one per answer: compare its shape
            fresh = kept.pop("x-request-id")
            kept["x-request-id"] = "<32 hex>" if len(fresh) == 32 and fresh.isalnum() else fresh
        answers.append((name, status, kept, content))
    return answers


def _stored(port: int) -> list[dict[str, Any]]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    records = []
    try:
        for record_id in range(1, 20):
            connection.request("GET", f"/api/v1/record/{record_id}", headers={"X-API-Key": "rd"})
            response = connection.getresponse()
            body = response.read()
            if response.status == 200:
                records.append(json.loads(body))
    finally:
        connection.close()
    return records


@pytest.fixture(scope="module")
def answers(servers: tuple[int, int]) -> tuple[list[Any], list[Any]]:
    """What each server answered to REQUESTS (fast path first)."""
    fast, slow = servers
    return _answers(fast), _answers(slow)


def test_fast_path_answers_like_the_pyramid_view(answers: tuple[list[Any], list[Any]]) -> None:
    fast, slow = answers
    assert fast == slow


def test_fast_path_answers_cover_every_outcome(answers: tuple[list[Any], list[Any]]) -> None:
    statuses = {status for _, status, _, _ in answers[0]}
    assert statuses == {200, 201, 207, 400, 401, 403, 413, 415}


def test_fast_path_stores_what_the_pyramid_view_stores(
    servers: tuple[int, int], answers: tuple[list[Any], list[Any]]
) -> None:
    del answers  # sent
    fast, slow = servers
    assert _stored(fast) == _stored(slow) != []


def test_the_context_during_a_fast_ingest_is_whole() -> None:
    """The route is set without dropping a field of the context (it has eleven since W3C level 2)."""
    from c2cwsgiutils import context

    ctx = context.Context(request_id="r", tracestate="a=1", random_trace_id=False)
    routed = context.with_route(ctx, "c2c_collector_record")
    assert routed == ctx._replace(route="c2c_collector_record")
    assert repr(routed)  # a ten-value copy raised here
