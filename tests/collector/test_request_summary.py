"""How the request view names spans and sums up a request from its span events (pure functions)."""

from __future__ import annotations

from typing import Any

from c2cwsgiutils.collector.http.api import span_tree
from c2cwsgiutils.collector.query.request_view import label, span_kind, summarise


def _record(record_id: int, span_id: str, parent: str = "", **data: Any) -> dict[str, Any]:
    return {
        "id": record_id,
        "time": f"2026-01-01T00:00:{record_id:02d}.000000Z",
        "created": 1_767_225_600.0 + record_id,
        "span_id": span_id,
        "parent_span_id": parent,
        "service": "shop",
        "kind": "web",
        "data": data,
    }


def _event(record_id: int, span_id: str, parent: str = "", **fields: Any) -> dict[str, Any]:
    fields.setdefault("status", "ok")
    return _record(record_id, span_id, parent, **fields)


def test_kinds_and_labels_come_from_the_event_fields() -> None:
    server = {"span_name": "request", "method": "GET", "route": "item", "status_code": 200}
    assert (span_kind(server), label(server, "server")) == ("server", "GET item 200")
    pattern = {
        "span_name": "GET /items/{id}",
        "span_kind": "server",
        "method": "GET",
        "route_pattern": "/items/{id}",
    }
    assert label(pattern, span_kind(pattern)) == "GET /items/{id}"
    client = {"span_name": "http", "method": "POST", "url": "http://api/x", "status_code": 503}
    assert (span_kind(client), label(client, "client")) == ("client", "POST http://api/x 503")
    task = {"span_name": "task", "task_name": "shop.charge", "state": "retry 2"}
    assert (span_kind(task), label(task, "task")) == ("task", "shop.charge retry 2")
    assert label({"span_name": "render"}, span_kind({"span_name": "render"})) == "render"
    send = {
        "span_name": "celery send",
        "span_kind": "producer",
        "task_name": "shop.charge",
        "queue": "payments",
    }
    assert label(send, span_kind(send)) == "celery send shop.charge to payments"
    long_sql = {"span_name": "sql", "span_kind": "sql", "sql": "SELECT " + "a, " * 200 + "b FROM t"}
    assert len(label(long_sql, "sql")) == 160


def test_the_cap_event_is_reported_not_counted() -> None:
    records = [
        _event(1, "s1", "root", span_name="sql", span_kind="sql", sql="SELECT ?", duration_ms=1.0),
        _event(2, "s2", "root", span_name="sql capped", span_kind="sql", sql_cap=1, duration_ms=0.5),
        _event(3, "root", span_name="request", method="GET", route="r", status_code=200, duration_ms=9.0),
    ]
    summary = summarise(records, span_tree(records)["spans"])
    assert summary["sql"] == {"count": 1, "duration_ms": 1.0, "capped": True}
    assert summary["duration_ms"] == 9.0


def test_the_root_with_children_is_not_among_the_slowest() -> None:
    records = [
        _event(
            index,
            f"s{index}",
            "root",
            span_name="sql",
            span_kind="sql",
            sql=f"SELECT {index}",
            duration_ms=float(index),
        )
        for index in range(1, 8)
    ]
    records.append(
        _event(9, "root", span_name="request", method="GET", route="r", status_code=200, duration_ms=100.0)
    )
    tree = span_tree(records)
    summary = summarise(records, tree["spans"])
    assert [entry["duration_ms"] for entry in summary["slowest"]] == [7.0, 6.0, 5.0, 4.0, 3.0]
    slow = sorted(span["span_id"] for span in tree["spans"] if span.get("slow"))
    assert slow == ["s5", "s6", "s7"]  # at least 5% of the request's 100 ms


def test_spans_without_an_event_and_plain_records_are_left_alone() -> None:
    records = [_record(1, "a", message="hello"), _record(2, "b", "a", duration_ms="soon", span_name="x")]
    tree = span_tree(records)
    summary = summarise(records, tree["spans"])
    assert all("label" not in span for span in tree["spans"])
    assert summary == {
        "duration_ms": None,
        "sql": {"count": 0, "duration_ms": 0.0, "capped": False},
        "repeated": [],
        "slowest": [],
        "critical_path": [],
        "complete": None,
    }


def test_twice_the_same_statement_is_not_yet_an_n_plus_one() -> None:
    records = [
        _event(index, f"s{index}", span_name="sql", span_kind="sql", sql="SELECT ?", duration_ms=1.0)
        for index in range(2)
    ]
    assert summarise(records, span_tree(records)["spans"])["repeated"] == []
    records.append(_event(5, "s5", span_name="sql", span_kind="sql", sql="SELECT ?", duration_ms=1.0))
    (repeated,) = summarise(records, span_tree(records)["spans"])["repeated"]
    assert (repeated["count"], repeated["span_ids"]) == (3, ["s0", "s1", "s5"])
