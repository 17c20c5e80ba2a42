from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from c2cwsgiutils import context, spans
from c2cwsgiutils.logging.record import record_to_dict
from c2cwsgiutils.spans import span


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.events: list[dict[str, object]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.events.append(record_to_dict(record))

    def by_name(self) -> dict[str, dict[str, object]]:
        return {str(event["span_name"]): event for event in self.events}


@pytest.fixture
def events() -> Iterator[Collect]:
    logger = logging.getLogger("c2cwsgiutils.spans")
    handler = Collect()
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    spans.configure(events=True)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)
    spans.configure(events=True)


def test_each_span_emits_exactly_one_event(events: Collect) -> None:
    with span("checkout"), span(".sql"):
        pass
    assert sorted(str(e["span_name"]) for e in events.events) == ["checkout", "checkout.sql"]


def test_leading_dot_joins_the_current_name_and_links_the_parent(events: Collect) -> None:
    with span("request") as root:
        with span(".sql") as sql, span(".fetch") as fetch:
            pass
        assert root.trace_id == sql.trace_id == fetch.trace_id
    by_name = events.by_name()
    assert set(by_name) == {"request", "request.sql", "request.sql.fetch"}
    assert by_name["request"]["parent_span_id"] == ""
    assert by_name["request.sql"]["parent_span_id"] == by_name["request"]["span_id"]
    assert by_name["request.sql.fetch"]["parent_span_id"] == by_name["request.sql"]["span_id"]
    assert {e["trace_id"] for e in events.events} == {root.trace_id}


def test_a_name_without_dot_stays_in_the_trace_under_the_current_span(events: Collect) -> None:
    with span("request") as root, span("checkout") as checkout:
        assert checkout.parent_span_id == root.span_id
    assert events.by_name()["checkout"]["trace_id"] == root.trace_id


def test_inside_a_span_the_context_is_the_span_and_comes_back_after(events: Collect) -> None:
    with context.bind(request_id="r1", trace_id="a" * 32, span_id="b" * 16):
        with span("work") as work:
            assert context.current().span_id == work.span_id
            assert context.current().span_path == "work"
            assert context.current().request_id == "r1"
            assert work.parent_span_id == "b" * 16
            assert work.trace_id == "a" * 32
        assert context.current().span_id == "b" * 16
    assert context.current() == context.EMPTY


def test_the_event_carries_the_request_id_of_the_context(events: Collect) -> None:
    with context.bind(request_id="r-42"), span("work"):
        pass
    assert events.events[0]["request_id"] == "r-42"


def test_dotted_keys_build_nested_fields(events: Collect) -> None:
    with span("request") as s:
        s.set("response.status", 200)
        s.set("response.size", 12)
        s.set("user", "bob")
    event = events.events[0]
    assert event["response"] == {"status": 200, "size": 12}
    assert event["user"] == "bob"


def test_append_incr_and_timeit_accumulate(events: Collect) -> None:
    with span("work") as s:
        s.append("tags", "a")
        s.append("tags", "b")
        s.incr("queries")
        s.incr("queries", 2)
        with s.timeit("db_time"):
            pass
        with s.timeit("db_time"):
            pass
    event = events.events[0]
    assert event["tags"] == ["a", "b"]
    assert event["queries"] == 3
    assert isinstance(event["db_time"], float)
    assert event["db_time"] > 0


def test_a_field_named_like_a_record_attribute_is_renamed(events: Collect) -> None:
    with span("work") as s:
        s.set("name", "x")
        s.set("status", "mine")
    event = events.events[0]
    assert (event["name_"], event["status_"], event["status"]) == ("x", "mine", "ok")


def test_event_has_timing_and_status_ok(events: Collect) -> None:
    with span("work"):
        pass
    event = events.events[0]
    assert event["status"] == "ok"
    assert event["error_type"] == ""
    assert isinstance(event["duration_ms"], float)
    assert isinstance(event["start"], float)
    assert event["logger_name"] == "c2cwsgiutils.spans"
    assert event["level_name"] == "INFO"


def test_an_exception_gives_status_error_with_its_type(events: Collect) -> None:
    with pytest.raises(KeyError), span("work"):
        raise KeyError("missing")
    event = events.events[0]
    assert (event["status"], event["error_type"]) == ("error", "KeyError")
    assert context.current() == context.EMPTY


def test_decorator_opens_one_span_per_call(events: Collect) -> None:
    @span(".render")
    def render(value: int) -> int:
        return value * 2

    with span("request") as root:
        assert render(2) == 4
        assert render(3) == 6
    renders = [e for e in events.events if e["span_name"] == "request.render"]
    assert len(renders) == 2
    assert {e["parent_span_id"] for e in renders} == {root.span_id}
    assert renders[0]["span_id"] != renders[1]["span_id"]


def test_decorator_made_while_events_are_off_records_once_they_are_on(events: Collect) -> None:
    spans.configure(events=False)

    @span("late")
    def late() -> None:
        pass

    late()
    assert events.events == []
    spans.configure(events=True)
    late()
    assert [e["span_name"] for e in events.events] == ["late"]


def test_sampled_out_span_silences_its_children(events: Collect) -> None:
    with span("request") as root:
        with span(".cache", sample=0.0) as cache:
            assert not cache.recording
            with span(".get") as child:
                assert not child.recording
        with span(".sql", sample=1.0) as sql:
            assert sql.recording
    assert sorted(str(e["span_name"]) for e in events.events) == ["request", "request.sql"]
    assert root.recording


def test_sampling_keeps_about_the_asked_fraction(events: Collect) -> None:
    for _ in range(2000):
        with span("sampled", sample=0.25):
            pass
    assert 300 < len(events.events) < 700


def test_a_context_not_sampled_by_its_traceparent_records_nothing(events: Collect) -> None:
    with context.bind(trace_id="a" * 32, span_id="b" * 16, sampled=False), span("work") as s:
        assert not s.recording
    assert events.events == []


def test_events_off_by_setting_returns_the_null_span_and_leaves_the_context(events: Collect) -> None:
    spans.configure(events=False)
    with span("work") as s:
        s.set("a.b", 1)
        s.incr("n")
        s.append("l", 1)
        with s.timeit("t"):
            pass
        assert context.current() == context.EMPTY
    assert isinstance(s, spans.NullSpan)
    assert events.events == []


def test_events_off_when_the_logger_is_not_enabled_for_info() -> None:
    logger = logging.getLogger("c2cwsgiutils.spans")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        assert isinstance(span("work"), spans.NullSpan)
        assert not spans.events_enabled()
    finally:
        logger.setLevel(level)


def test_root_span_takes_the_span_id_an_integration_bound(events: Collect) -> None:
    with context.bind(trace_id="a" * 32, span_id="b" * 16, parent_span_id="c" * 16):
        with spans.root_span("task") as root, span(".step") as step:
            assert step.parent_span_id == "b" * 16
        assert (root.span_id, root.parent_span_id) == ("b" * 16, "c" * 16)


def test_root_span_inside_an_open_span_is_a_child(events: Collect) -> None:
    with span("outer") as outer, spans.root_span("inner") as inner:
        assert inner.parent_span_id == outer.span_id
        assert inner.span_id != outer.span_id


def test_the_event_record_is_a_complete_log_record_of_this_process_and_thread(events: Collect) -> None:
    import os
    import threading
    import time

    records: list[logging.LogRecord] = []
    logger = logging.getLogger("c2cwsgiutils.spans")
    keep = logging.Handler()
    keep.emit = records.append  # type: ignore[method-assign]
    logger.addHandler(keep)
    try:
        before = time.time()
        with span("work"):
            pass
    finally:
        logger.removeHandler(keep)
    record = records[0]
    plain = logging.LogRecord("x", logging.INFO, __file__, 1, "m", (), None)
    assert set(vars(plain)) <= set(vars(record))
    assert (record.process, record.thread) == (os.getpid(), threading.get_ident())
    assert before <= record.created <= time.time()
    assert (record.levelname, record.name) == ("INFO", "c2cwsgiutils.spans")
    assert record.getMessage().startswith("span work ok in ")
