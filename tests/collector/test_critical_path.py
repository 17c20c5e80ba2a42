"""The request's critical path: the chain of spans its end waited for (pure functions)."""

from __future__ import annotations

import itertools
import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from c2cwsgiutils.collector.http.api import span_tree
from c2cwsgiutils.collector.query.request_view import critical_path, summarise

T0 = 1_767_225_600.0


def _ts(seconds: float) -> str:
    whole = int(seconds)
    return f"2026-01-01T00:00:{whole - int(T0):02d}.{round((seconds - whole) * 1e6):06d}Z"


def _event(span_id: str, parent: str, start_ms: float, duration_ms: float, **fields: Any) -> dict[str, Any]:
    """The span event of ``span_id``: it started ``start_ms`` after T0 and lasted ``duration_ms``."""
    end = T0 + (start_ms + duration_ms) / 1000
    fields.setdefault("span_name", span_id)
    return {
        "id": int(end * 1e6) % 1_000_000_000,
        "time": _ts(end),
        "span_id": span_id,
        "parent_span_id": parent,
        "service": "shop",
        "data": {"start": T0 + start_ms / 1000, "duration_ms": duration_ms, "status": "ok", **fields},
    }


def _line(span_id: str, parent: str, at_ms: float) -> dict[str, Any]:
    """A plain log record of ``span_id`` at ``at_ms`` after T0."""
    return {"id": 7, "time": _ts(T0 + at_ms / 1000), "span_id": span_id, "parent_span_id": parent, "data": {}}


def _view(records: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    records = sorted(records, key=lambda record: record["time"])
    tree = span_tree(records)
    summary = summarise(records, tree["spans"])
    return summary, {span["span_id"]: span for span in tree["spans"]}


def _critical_ms(spans: dict[str, dict[str, Any]]) -> dict[str, float]:
    return {span_id: span["critical_ms"] for span_id, span in spans.items() if span.get("critical")}


def test_sequential_children_are_all_on_the_path_and_the_parent_between_them() -> None:
    summary, spans = _view(
        [
            _event("root", "", 0, 100, span_name="request", method="GET", route="r", status_code=200),
            _event("a", "root", 10, 30),
            _event("b", "root", 50, 40),
        ]
    )
    assert summary["critical_path"] == ["root", "b", "a"]
    assert _critical_ms(spans) == {"root": 30.0, "a": 30.0, "b": 40.0}
    assert spans["root"]["critical_segments"] == [
        [T0, T0 + 0.01],
        [T0 + 0.04, T0 + 0.05],
        [T0 + 0.09, T0 + 0.1],
    ]


def test_of_children_running_in_parallel_only_the_one_that_ends_last_is_on_the_path() -> None:
    # a and b run together from 10 ms; b ends last. c ran before both, d overlaps b's start.
    summary, spans = _view(
        [
            _event("root", "", 0, 100),
            _event("c", "root", 0, 8),
            _event("d", "root", 5, 10),
            _event("a", "root", 10, 30),
            _event("b", "root", 10, 60),
            _event("b1", "b", 20, 45),
        ]
    )
    assert summary["critical_path"] == ["root", "b", "b1", "c"]
    assert "critical" not in spans["a"]
    assert "critical" not in spans["d"]  # it ends after b starts: b did not wait for it
    assert _critical_ms(spans) == {"root": 32.0, "b": 15.0, "b1": 45.0, "c": 8.0}


def test_a_child_outliving_its_parent_is_on_the_path_up_to_the_parents_end_only() -> None:
    # The request starts a background job that outlives it, and enqueues a task (its producer span
    # ends at once) that runs after the request ended: the request did not wait for that one.
    summary, spans = _view(
        [
            _event("root", "", 0, 50, span_name="request", method="POST", route="r", status_code=202),
            _event("send", "root", 10, 1, span_kind="producer"),
            _event("task", "send", 20, 500, span_kind="task", task_name="shop.charge"),
            _event("job", "root", 30, 100),
            _event("late", "root", 60, 5),
        ]
    )
    assert summary["critical_path"] == ["root", "job", "send"]
    assert spans["job"]["critical_segments"] == [[T0 + 0.03, T0 + 0.05]]
    assert "critical" not in spans["task"]
    assert "critical" not in spans["late"]
    assert _critical_ms(spans) == {"root": 29.0, "job": 20.0, "send": 1.0}


def test_spans_without_their_event_span_their_records_and_children() -> None:
    # The root's event is not in yet (the request is still running, or its records are on their
    # way), nor that of "mid", which has only a log line: bounds come from records and children.
    summary, spans = _view(
        [
            _line("root", "", 0),
            _line("mid", "root", 5),
            _event("leaf", "mid", 10, 20),
            _line("root", "", 40),
        ]
    )
    assert summary["complete"] is False
    assert summary["critical_path"] == ["root", "mid", "leaf"]
    assert _critical_ms(spans) == {"root": 15.0, "mid": 5.0, "leaf": 20.0}


def test_complete_is_unknown_without_any_span_event_and_true_once_every_span_has_its_own() -> None:
    assert _view([_line("root", "", 0), _line("child", "root", 1)])[0]["complete"] is None
    records = [_line("root", "", 0), _event("child", "root", 1, 2)]
    assert _view(records)[0]["complete"] is False
    assert _view([*records, _event("root", "", 0, 5)])[0]["complete"] is True


def test_no_span_no_path() -> None:
    assert critical_path([]) == []
    summary, _ = _view([{"id": 1, "time": _ts(T0), "span_id": None, "data": {}}])
    assert summary["critical_path"] == []


@st.composite
def _trees(draw: st.DrawFn) -> list[dict[str, Any]]:
    """A request of up to 40 spans, each child inside its parent (as a synchronous call is)."""
    count = draw(st.integers(1, 40))
    seed = draw(st.integers(0, 2**32))
    rng = random.Random(seed)
    spans = [("s0", "", 0.0, 1000.0)]
    for index in range(1, count):
        _, _, start, duration = parent = spans[rng.randrange(len(spans))]
        low = rng.uniform(start, start + duration)
        high = rng.uniform(low, start + duration)
        spans.append((f"s{index}", parent[0], round(low, 3), round(high - low, 3)))
    return [_event(span_id, parent_id, start, duration) for span_id, parent_id, start, duration in spans]


@settings(max_examples=150, deadline=None)
@given(_trees())
def test_the_time_on_the_path_adds_up_to_the_root_duration(records: list[dict[str, Any]]) -> None:
    summary, spans = _view(records)
    assert summary["critical_path"][0] == "s0"
    assert abs(sum(_critical_ms(spans).values()) - 1000.0) < 0.01 * len(spans)
    # Segments never overlap: at each moment one span holds the path.
    segments = sorted(segment for span in spans.values() for segment in span.get("critical_segments", ()))
    for (_, end), (start, _) in itertools.pairwise(segments):
        assert start >= end - 1e-6


def test_a_span_whose_parent_is_missing_is_incomplete_unless_it_is_a_request_or_a_task() -> None:
    child = _event("child", "root", 1, 2)
    assert _view([child])[0]["complete"] is False
    # A web request called by another service: its parent span is the caller's.
    called = _event("web", "caller", 0, 5, span_name="request", span_kind="server")
    assert _view([called, _event("child", "web", 1, 2)])[0]["complete"] is True


def test_a_request_that_enqueued_a_task_is_incomplete_until_the_task_reports() -> None:
    request = _event("root", "", 0, 50, span_name="request", span_kind="server")
    send = _event("send", "root", 10, 1, span_kind="producer", task_name="shop.charge")
    assert _view([request, send])[0]["complete"] is False
    task = _event("task", "send", 60, 1000, span_kind="task", task_name="shop.charge")
    assert _view([request, send, task])[0]["complete"] is True
