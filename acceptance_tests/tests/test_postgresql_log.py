"""PostgreSQL's own log joins the request that sent a slow statement.

A real server (the session's private one, ``log_min_duration_statement`` set) writes ``jsonlog``
and ``csvlog`` files; ``c2cwsgiutils-logs ingest`` sends them to the collector, and the request
view shows the statement, with its duration, beside the web service's and the worker's records.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from acceptance_tests.tests.conftest import (
    SLOW_STATEMENT_MS,
    Product,
    TracedRequest,
    logs_cli,
    request_view,
)
from c2cwsgiutils.acceptance import Connection
from tests.collector.serve import serve_collector


def slow_statements(view: dict[str, Any], service: str) -> list[dict[str, Any]]:
    return [
        record
        for record in view["records"]
        if record["service"] == service and "pg_sleep" in str(record["data"].get("statement"))
    ]


def ancestors(view: dict[str, Any], span_id: str) -> list[dict[str, Any]]:
    """The spans from ``span_id``'s up to its root, nearest first."""
    spans = {span["span_id"]: span for span in view["spans"]}
    chain = []
    current = spans.get(span_id)
    while current is not None:
        chain.append(current)
        current = spans.get(current["parent_span_id"] or "")
    return chain


def test_a_slow_statement_from_the_jsonlog_joins_its_request_below_the_task_span(
    product: Product, traced_request: TracedRequest
) -> None:
    view = request_view(product.collector_url, traced_request.request_id)
    [statement] = slow_statements(view, "postgresql")
    assert statement["name"] == "postgresql"
    assert statement["kind"] == "sql"
    assert statement["task_id"] == traced_request.task_id
    assert statement["data"]["caller_kind"] == "celery"
    assert statement["data"]["duration_ms"] >= traced_request.seconds * 1000
    assert statement["data"]["duration_ms"] > SLOW_STATEMENT_MS
    assert statement["data"]["application_name"].startswith(f"rid={traced_request.request_id},")
    # Its parent is the worker's span around the query, below the task, below the web request.
    chain = ancestors(view, statement["span_id"])
    assert [span["services"] for span in chain] == [
        ["postgresql"],
        ["demo-worker"],
        ["demo-worker"],
        ["demo-web"],  # the span that sent the task (celery send)
        ["demo-web"],
    ]
    assert chain[-1]["span_id"] == view["roots"][0]
    assert len(view["roots"]) == 1
    spans_by_name = {
        r["data"]["span_name"]: r["span_id"] for r in view["records"] if r["data"].get("span_name")
    }
    assert [span["span_id"] for span in chain[1:]] == [
        spans_by_name["task.sql"],
        spans_by_name["task"],
        spans_by_name["celery send"],
        spans_by_name["request"],
    ]


def test_the_csvlog_of_the_same_server_gives_the_same_statement(
    product: Product, traced_request: TracedRequest, tmp_path: Path
) -> None:
    request = traced_request
    server = product.server_logs()
    # A collector of its own: in the product's one, a statement is one record of service postgresql.
    with (
        serve_collector(tmp_path, "--workers", "1") as port,
        Connection(f"http://127.0.0.1:{port}/") as collector,
    ):
        logs_cli("ingest", "--url", collector.base_url, "--service", "from-json", str(server.json_log))
        logs_cli("ingest", "--url", collector.base_url, "--service", "from-csv", str(server.csv_log))
        view = collector.get_json(f"api/v1/request/{request.request_id}")
    [from_json] = slow_statements(view, "from-json")
    [from_csv] = slow_statements(view, "from-csv")
    fields = ("time", "request_id", "task_id", "trace_id", "parent_span_id", "name", "kind", "level")
    assert {key: from_csv[key] for key in fields} == {key: from_json[key] for key in fields}
    data = ("duration_ms", "statement", "application_name", "pid", "session_id", "caller_kind", "detail")
    assert {key: from_csv["data"].get(key) for key in data} == {
        key: from_json["data"].get(key) for key in data
    }
    assert from_csv["data"]["duration_ms"] >= request.seconds * 1000


def test_ingesting_the_log_again_stores_nothing_twice(
    product: Product, traced_request: TracedRequest, tmp_path: Path
) -> None:
    # A copy: the server may write to its file meanwhile (a checkpoint ...); the records' uuids
    # depend on the content, not on the path.
    snapshot = tmp_path / "postgresql.json"
    shutil.copyfile(product.server_logs().json_log, snapshot)
    lines = len(snapshot.read_text(encoding="utf-8").splitlines())
    logs_cli("ingest", "--url", product.collector_url, str(snapshot))
    again = logs_cli("ingest", "--url", product.collector_url, str(snapshot))
    assert f"stored 0, already there {lines}, rejected 0, unparsed lines 0" in again.stderr
    view = request_view(product.collector_url, traced_request.request_id)
    assert len(slow_statements(view, "postgresql")) == 1
