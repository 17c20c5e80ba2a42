"""Span data sent by writers cannot break the request view: cycles and very deep chains (issue #18)."""

from __future__ import annotations

import io
from typing import Any

from c2cwsgiutils.collector.cli.output import Printer
from c2cwsgiutils.collector.http.api import MAX_SPAN_DEPTH, span_tree


def _record(span_id: str, parent: str | None, index: int = 0) -> dict[str, Any]:
    return {
        "id": index,
        "span_id": span_id,
        "parent_span_id": parent,
        "time": f"2026-01-01T00:00:{index % 60:02d}.000000Z",
        "level": 20,
        "level_name": "INFO",
        "name": "test",
        "message": f"in {span_id}",
    }


def _placed_once(tree: dict[str, Any]) -> list[str]:
    placed: list[str] = [child for span in tree["spans"] for child in span["children"]] + tree["roots"]
    assert sorted(placed) == sorted(span["span_id"] for span in tree["spans"])
    return placed


def test_a_parent_cycle_is_shown_from_a_root() -> None:
    records = [_record("a", "b", 1), _record("b", "c", 2), _record("c", "a", 3), _record("self", "self", 4)]
    tree = span_tree(records)
    _placed_once(tree)
    assert tree["roots"] == ["self", "a"]
    assert {span["span_id"]: span.get("cycle", False) for span in tree["spans"]} == {
        "a": True,
        "b": False,
        "c": False,
        "self": False,
    }


def test_a_chain_10000_spans_deep_is_flattened_below_the_cap() -> None:
    records = [_record("s0", None)] + [_record(f"s{i}", f"s{i - 1}", i) for i in range(1, 10_000)]
    tree = span_tree(records)
    _placed_once(tree)
    assert tree["roots"] == ["s0"]
    depths = {span["span_id"]: span["depth"] for span in tree["spans"]}
    assert max(depths.values()) == MAX_SPAN_DEPTH
    spans = {span["span_id"]: span for span in tree["spans"]}
    assert len(spans[f"s{MAX_SPAN_DEPTH - 1}"]["children"]) == 10_000 - MAX_SPAN_DEPTH
    assert spans["s9999"]["flattened"] is True


def test_the_cli_prints_any_span_answer_without_recursion() -> None:
    records = [_record("s0", None)] + [_record(f"s{i}", f"s{i - 1}", i) for i in range(1, 10_000)]
    records += [_record("a", "b"), _record("b", "a")]
    out = io.StringIO()
    # A hostile or old server's answer: a 10,000-deep chain of children and a cycle, unflattened.
    spans = [
        {
            "span_id": f"s{i}",
            "children": [f"s{i + 1}"] if i < 9_999 else [],
            "first": r["time"],
            "last": r["time"],
        }
        for i, r in enumerate(records[:10_000])
    ]
    spans += [{"span_id": "a", "children": ["b"], "first": records[0]["time"], "last": records[0]["time"]}]
    spans += [{"span_id": "b", "children": ["a"], "first": records[0]["time"], "last": records[0]["time"]}]
    Printer(out).request_tree({"request_id": "r", "records": records, "spans": spans, "roots": ["s0", "a"]})
    text = out.getvalue()
    assert text.count("└ span") == 10_002
    Printer(out := io.StringIO()).request_tree({"request_id": "r", "records": records, **span_tree(records)})
    assert out.getvalue().count("└ span") == 10_002


def test_spans_are_listed_after_their_parent_whatever_the_record_order() -> None:
    # A Celery request: the worker's "received" record comes before the event of the span that
    # sent the task, and both before the web span's event (span events are written at their end).
    records = [
        _record("task", "send", 1),
        _record("send", "web", 2),
        _record("sql", "task", 3),
        _record("task", "send", 4),
        _record("web", None, 5),
        _record("other-root", None, 6),
    ]
    tree = span_tree(records)
    order = [span["span_id"] for span in tree["spans"]]
    assert order == ["web", "send", "task", "sql", "other-root"]
    assert [span["depth"] for span in tree["spans"]] == [0, 1, 2, 3, 0]
