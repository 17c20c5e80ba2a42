"""The request view, the requests list and per-route percentiles, on a real collector process,
fed with the records of real requests (request spans and SQL spans on PostgreSQL)."""

from __future__ import annotations

import http.client
import json
import re
import subprocess
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.collector.cli_process import SCRIPT
from tests.collector.conftest import CHDB_MISSING
from tests.collector.serve import serve_collector
from tests.collector.traffic import REPEATED, get, make_traffic, post
from tests.helpers import child_env


@pytest.fixture(scope="module", params=["sqlite", "clickhouse"])
def collector(
    request: pytest.FixtureRequest, pg_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[int, dict[str, str]]]:
    directory: Path = tmp_path_factory.mktemp("request-view")
    args: list[str] = []
    if request.param == "clickhouse":
        pytest.importorskip("chdb", reason=CHDB_MISSING)
        args = ["--db-url", f"chdb://{directory / 'clickhouse'}"]
    records, ids = make_traffic(pg_url)
    with serve_collector(directory, *args) as port:
        post(port, records)
        yield port, ids


def _view(port: int, request_id: str) -> dict[str, Any]:
    status, body = get(port, f"/api/v1/request/{request_id}")
    assert status == 200, body
    assert isinstance(body, dict)
    return body


def test_the_request_view_counts_the_sql_statements_and_their_time(
    collector: tuple[int, dict[str, str]],
) -> None:
    port, ids = collector
    view = _view(port, ids["item"])
    assert view["sql"]["count"] == REPEATED + 2
    assert view["sql"]["duration_ms"] >= 100
    assert view["sql"]["capped"] is False


def test_a_statement_repeated_n_times_is_flagged(collector: tuple[int, dict[str, str]]) -> None:
    port, ids = collector
    view = _view(port, ids["item"])
    (repeated,) = view["repeated"]
    assert repeated["sql"] == "SELECT ? AS price WHERE ? = ?"
    assert repeated["count"] == REPEATED
    flagged = [span for span in view["spans"] if span.get("repeated")]
    assert len(flagged) == REPEATED


def test_the_slowest_span_is_the_slow_statement_and_is_highlighted(
    collector: tuple[int, dict[str, str]],
) -> None:
    port, ids = collector
    view = _view(port, ids["item"])
    slowest = view["slowest"][0]
    assert slowest["label"] == "SELECT pg_sleep(?)"
    assert slowest["duration_ms"] >= 100
    by_id = {span["span_id"]: span for span in view["spans"]}
    assert by_id[slowest["span_id"]]["slow"] is True


def test_the_critical_path_runs_through_every_statement_and_adds_up_to_the_request(
    collector: tuple[int, dict[str, str]],
) -> None:
    port, ids = collector
    view = _view(port, ids["item"])
    assert view["complete"] is True
    by_id = {span["span_id"]: span for span in view["spans"]}
    path = [by_id[span_id] for span_id in view["critical_path"]]
    assert path[0]["span_kind"] == "server"
    # One statement after the other: the request waited for each of them.
    assert len(path) == REPEATED + 3
    assert all(span.get("critical") for span in view["spans"])
    assert abs(sum(span["critical_ms"] for span in path) - view["duration_ms"]) < 0.1
    longest = max(path[1:], key=lambda span: span["critical_ms"])
    assert longest["label"] == "SELECT pg_sleep(?)"


def test_spans_are_labelled_from_their_fields(collector: tuple[int, dict[str, str]]) -> None:
    port, ids = collector
    view = _view(port, ids["item"])
    (root_id,) = view["roots"]
    root = {span["span_id"]: span for span in view["spans"]}[root_id]
    assert root["label"] == "GET /items/{id} 200"  # the route pattern, not its name
    assert root["span_kind"] == "server"
    assert root["duration_ms"] == view["duration_ms"]
    assert root["duration_ms"] >= 100
    kinds = sorted({span["span_kind"] for span in view["spans"]})
    assert kinds == ["server", "sql"]
    assert all(span["label"] for span in view["spans"])
    # the SQL spans hang under the request span
    assert all(span["parent_span_id"] == root_id for span in view["spans"] if span["span_kind"] == "sql")


def test_a_failed_request_is_labelled_with_its_status(collector: tuple[int, dict[str, str]]) -> None:
    port, ids = collector
    view = _view(port, ids["fail"])
    (root,) = view["spans"]
    assert (root["label"], root["status"], root["error_type"]) == ("GET /fail 500", "error", "ValueError")
    assert view["sql"] == {"count": 0, "duration_ms": 0.0, "capped": False}


def _requests(port: int, **params: str) -> list[dict[str, Any]]:
    status, body = get(port, "/api/v1/requests?" + urllib.parse.urlencode(params))
    assert status == 200, body
    return list(body["requests"])


def test_requests_sorted_by_duration_put_the_slow_one_first(collector: tuple[int, dict[str, str]]) -> None:
    port, ids = collector
    rows = _requests(port, sort="duration", service="shop")
    assert rows[0]["request_id"] == ids["item"]
    durations = [row["duration_ms"] for row in rows]
    assert durations == sorted(durations, reverse=True)
    first = rows[0]
    assert (first["method"], first["route"], first["status_code"], first["service"]) == (
        "GET",
        "/items/{id}",
        200,
        "shop",
    )
    assert first["sql"]["count"] == REPEATED + 2
    assert first["view"] == f"/api/v1/request/{ids['item']}"
    assert {row["request_id"] for row in rows} == set(ids.values())


def test_requests_filter_by_route_status_service_and_duration(collector: tuple[int, dict[str, str]]) -> None:
    port, ids = collector
    assert {row["request_id"] for row in _requests(port, route="fast")} == {ids["fast"], ids["fast2"]}
    assert [row["request_id"] for row in _requests(port, status="5xx")] == [ids["fail"]]
    assert [row["request_id"] for row in _requests(port, status="error")] == [ids["fail"]]
    assert len(_requests(port, status="200")) == 3
    assert [row["request_id"] for row in _requests(port, min_duration_ms="100")] == [ids["item"]]
    assert _requests(port, service="elsewhere") == []
    assert _requests(port, before="2000-01-01T00:00:00Z") == []
    assert len(_requests(port, after="2000-01-01T00:00:00Z", limit="2")) == 2


def test_routes_give_percentiles(collector: tuple[int, dict[str, str]]) -> None:
    port, _ = collector
    status, body = get(port, "/api/v1/routes?service=shop")
    assert status == 200, body
    routes = {(entry["method"], entry["route"]): entry for entry in body["routes"]}
    assert set(routes) == {("GET", "/items/{id}"), ("GET", "/fast"), ("GET", "/fail")}
    fast = routes[("GET", "/fast")]
    assert fast["count"] == 2
    assert fast["p50"] <= fast["p95"] <= fast["p99"] == fast["max"]
    assert routes[("GET", "/fail")]["errors"] == 1
    assert body["routes"][0]["route"] == "/items/{id}"  # the slowest p95 first


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("sort=size", "sort"),
        ("status=teapot", "status"),
        ("min_duration_ms=fast", "min_duration_ms"),
        ("limit=-1", "limit"),
        ("after=yesterday-ish", "after"),
    ],
)
def test_bad_parameters_are_a_json_400_naming_them(
    collector: tuple[int, dict[str, str]], query: str, parameter: str
) -> None:
    port, _ = collector
    status, body = get(port, f"/api/v1/requests?{query}")
    assert status == 400
    assert body["parameter"] == parameter


def _cli(port: int, *args: str) -> str:
    result = subprocess.run(
        [SCRIPT, *args, "--url", f"http://127.0.0.1:{port}", "--color", "never"],
        env=child_env({}),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_cli_requests_slowest_lists_the_slow_request_first(collector: tuple[int, dict[str, str]]) -> None:
    port, ids = collector
    lines = _cli(port, "requests", "--slowest").splitlines()
    assert "duration" in lines[0]
    first = lines[1]
    assert "GET /items/{id} [shop]" in first
    assert f"c2cwsgiutils-logs request {ids['item']}" in first
    assert f" {REPEATED + 2} " in first  # SQL statements
    failing = _cli(port, "requests", "--status", "5xx").splitlines()
    assert len(failing) == 2
    assert "500" in failing[1]
    assert ids["fail"] in failing[1]


def test_cli_routes_prints_percentiles(collector: tuple[int, dict[str, str]]) -> None:
    port, _ = collector
    lines = _cli(port, "routes").splitlines()
    assert lines[0].split()[:6] == ["count", "errors", "p50", "p95", "p99", "max"]
    assert lines[1].endswith("GET /items/{id}")
    assert any(line.endswith("GET /fast") and line.split()[0] == "2" for line in lines)


def test_cli_request_says_what_the_request_did(collector: tuple[int, dict[str, str]]) -> None:
    port, ids = collector
    output = _cli(port, "request", ids["item"])
    assert f"SQL: {REPEATED + 2} statements" in output
    assert f"N+1: repeated {REPEATED}x" in output
    assert "SELECT ? AS price WHERE ? = ?" in output
    assert "slowest: " in output
    assert "└ server GET /items/{id} 200" in output
    assert "└ sql SELECT pg_sleep(?)" in output
    assert "[slow]" in output
    assert f"[x{REPEATED}]" in output
    assert f"critical path: {REPEATED + 3} spans [critical]; most time on it: " in output
    assert re.search(r"└ sql SELECT pg_sleep\(\?\) [0-9.]+ ms \[slow\] \[critical\]", output)
    assert "span sql ok in" not in output  # the span line stands for its own event


def _otlp_server_span(request_id: str) -> bytes:
    now_ns = time.time_ns()

    def attribute(key: str, value: dict[str, Any]) -> dict[str, Any]:
        return {"key": key, "value": value}

    span = {
        "traceId": uuid.uuid4().hex,
        "spanId": uuid.uuid4().hex[:16],
        "name": "GET /orders/<id>",
        "kind": 2,
        "startTimeUnixNano": str(now_ns - 42_000_000),
        "endTimeUnixNano": str(now_ns),
        "attributes": [
            attribute("http.route", {"stringValue": "/orders/<id>"}),
            attribute("http.request.method", {"stringValue": "GET"}),
            attribute("http.response.status_code", {"intValue": "200"}),
            attribute(
                "http.request.header.x-request-id", {"arrayValue": {"values": [{"stringValue": request_id}]}}
            ),
        ],
        "status": {},
    }
    resource = {"attributes": [attribute("service.name", {"stringValue": "flask-shop"})]}
    body = {
        "resourceSpans": [
            {
                "resource": resource,
                "scopeSpans": [{"scope": {"name": "opentelemetry.instrumentation.flask"}, "spans": [span]}],
            }
        ]
    }
    return json.dumps(body).encode()


def test_an_opentelemetry_server_span_is_a_request_too(collector: tuple[int, dict[str, str]]) -> None:
    port, _ = collector
    request_id = f"otlp-{uuid.uuid4().hex[:12]}"
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request(
        "POST", "/v1/traces", _otlp_server_span(request_id), {"Content-Type": "application/json"}
    )
    response = connection.getresponse()
    assert response.status == 200, response.read()
    response.read()
    connection.close()
    (row,) = _requests(port, service="flask-shop")
    assert (row["request_id"], row["method"], row["route"], row["status_code"]) == (
        request_id,
        "GET",
        "/orders/<id>",
        200,
    )
    assert 41 <= row["duration_ms"] <= 43
    view = _view(port, request_id)
    (span,) = view["spans"]
    assert (span["span_kind"], span["label"]) == ("server", "GET /orders/<id> 200")
