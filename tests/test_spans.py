from __future__ import annotations

import logging
import sys
from collections.abc import Iterator

import pytest

from c2cwsgiutils import context, spans
from c2cwsgiutils.logging.record import record_to_dict
from c2cwsgiutils.spans import span

# The build of the hot path that spans loaded (compiled or source, see c2cwsgiutils._compiled).
_core = sys.modules["c2cwsgiutils._spans_core"]


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
    @span(".render")  # type: ignore[untyped-decorator]  # span() returns Span | NullSpan: untyped to mypy
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

    @span("late")  # type: ignore[untyped-decorator]  # span() returns Span | NullSpan: untyped to mypy
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


class _Keep(logging.Handler):
    """Keeps the records it is given, as they are (no formatting)."""

    def __init__(self, records: list[logging.LogRecord]) -> None:
        super().__init__()
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_the_event_record_is_a_complete_log_record_of_this_process_and_thread(events: Collect) -> None:
    import os
    import threading
    import time

    records: list[logging.LogRecord] = []
    logger = logging.getLogger("c2cwsgiutils.spans")
    keep = _Keep(records)
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


def _span_record(handler_logger: str = "c2cwsgiutils.spans") -> logging.LogRecord:
    records: list[logging.LogRecord] = []
    logger = logging.getLogger(handler_logger)
    keep = _Keep(records)
    logger.addHandler(keep)
    try:
        with context.bind(request_id="r-1"), span("work") as s:
            s.set("user", "bob")
            s.set("name", "clash")
            s.set("a.b", 1)
    finally:
        logger.removeHandler(keep)
    assert len(records) == 1
    return records[0]


# Set per span or per record (trace_id, span_id: by a context filter some test set-ups install).
_VARYING = {
    "created",
    "msecs",
    "relativeCreated",
    "start",
    "duration_ms",
    "args",
    "message",
    "trace_id",
    "span_id",
}


def test_the_event_record_is_the_one_the_standard_record_factory_makes(events: Collect) -> None:
    fast = _span_record()
    # Any custom factory makes the span use logger.makeRecord; this one changes nothing.
    factory = logging.getLogRecordFactory()
    logging.setLogRecordFactory(lambda *args, **kwargs: logging.LogRecord(*args, **kwargs))  # noqa: PLW0108
    try:
        standard = _span_record()
    finally:
        logging.setLogRecordFactory(factory)
    assert type(fast) is type(standard) is logging.LogRecord
    assert list(vars(fast)) == list(vars(standard))
    assert {k: v for k, v in vars(fast).items() if k not in _VARYING} == {
        k: v for k, v in vars(standard).items() if k not in _VARYING
    }
    extra = vars(fast)  # the fields a LogRecord gets at run time
    assert (extra["user"], extra["name_"], extra["a"], extra["span_name"]) == (
        "bob",
        "clash",
        {"b": 1},
        "work",
    )
    assert fast.msecs == int((fast.created - int(fast.created)) * 1000)
    assert isinstance(fast.args, tuple)
    assert fast.args[:2] == ("work", "ok")
    assert isinstance(fast.args[2], float)
    assert extra["duration_ms"] == round(fast.args[2], 3)


_THREAD_AND_PROCESS = ("thread", "threadName", "process", "processName")


def _thread_and_process(record: logging.LogRecord) -> tuple[object, ...]:
    return tuple(getattr(record, key) for key in _THREAD_AND_PROCESS)


def _standard_thread_and_process() -> tuple[object, ...]:
    return _thread_and_process(logging.LogRecord("x", logging.INFO, __file__, 1, "m", (), None))


def test_the_event_follows_a_renamed_thread_and_logging_flags(events: Collect) -> None:
    import threading

    thread = threading.current_thread()
    name = thread.name
    saved = (logging.logThreads, logging.logProcesses, logging.logMultiprocessing)
    try:
        first = _span_record()
        thread.name = "renamed-after-a-span"
        renamed = _span_record()
        assert renamed.threadName == "renamed-after-a-span" != first.threadName
        assert _thread_and_process(renamed) == _standard_thread_and_process()
        logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
        off = _span_record()
        assert _thread_and_process(off) == (None, None, None, None) == _standard_thread_and_process()
        logging.logThreads, logging.logProcesses, logging.logMultiprocessing = saved
        assert _thread_and_process(_span_record()) == _standard_thread_and_process()
    finally:
        thread.name = name
        logging.logThreads, logging.logProcesses, logging.logMultiprocessing = saved


def test_each_thread_gets_its_own_name_also_when_its_ident_is_reused(events: Collect) -> None:
    import threading

    seen: list[tuple[object, ...]] = []

    def work() -> None:
        seen.append((*_thread_and_process(_span_record()), *_standard_thread_and_process()))

    for index in range(5):  # a finished thread's ident is often given to the next one
        worker = threading.Thread(target=work, name=f"worker-{index}")
        worker.start()
        worker.join()
    assert [row[1] for row in seen] == [f"worker-{index}" for index in range(5)]
    assert all(row[:4] == row[4:] for row in seen)


def test_a_forked_child_reports_its_own_pid_and_process_name(events: Collect) -> None:
    import json
    import multiprocessing
    import os

    parent = _span_record()  # the parent's thread template exists when it forks
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        multiprocessing.current_process().name = "forked-child"
        child = _span_record()
        os.write(write, json.dumps([child.process, child.processName]).encode())
        os._exit(0)
    os.close(write)
    reported = json.loads(os.read(read, 256).decode())
    os.close(read)
    os.waitpid(pid, 0)
    assert reported == [pid, "forked-child"]
    assert (parent.process, parent.processName) == (os.getpid(), multiprocessing.current_process().name)


def test_the_event_goes_to_the_handlers_of_the_parent_loggers(events: Collect) -> None:
    assert _span_record("c2cwsgiutils").span_name == "work"  # type: ignore[attr-defined]


def test_the_event_skips_a_handler_whose_level_is_above_info(events: Collect) -> None:
    events.setLevel(logging.WARNING)
    with span("work"):
        pass
    assert events.events == []


def test_a_filter_of_the_spans_logger_can_drop_or_change_the_event(events: Collect) -> None:
    logger = logging.getLogger("c2cwsgiutils.spans")

    def only_kept(record: logging.LogRecord) -> bool:
        record.seen_by_filter = True
        return record.span_name == "kept"  # type: ignore[attr-defined, no-any-return]

    logger.addFilter(only_kept)
    try:
        with span("dropped"), span("kept"):
            pass
    finally:
        logger.removeFilter(only_kept)
    assert [(e["span_name"], e["seen_by_filter"]) for e in events.events] == [("kept", True)]


def test_a_disabled_spans_logger_makes_spans_do_nothing(events: Collect) -> None:
    # What logging.config.dictConfig does to existing loggers (disable_existing_loggers).
    logger = logging.getLogger("c2cwsgiutils.spans")
    logger.disabled = True
    try:
        assert isinstance(span("work"), spans.NullSpan)
    finally:
        logger.disabled = False
    assert isinstance(span("work"), spans.Span)


def test_lowering_the_level_of_the_spans_logger_turns_events_on_at_once() -> None:
    logger = logging.getLogger("c2cwsgiutils.spans")
    level = logger.level
    try:
        logger.setLevel(logging.WARNING)
        assert isinstance(span("work"), spans.NullSpan)
        logger.setLevel(logging.INFO)
        assert isinstance(span("work"), spans.Span)
    finally:
        logger.setLevel(level)


@pytest.fixture
def ids_drawn_ahead() -> Iterator[list[str]]:
    """The span ids drawn ahead, empty during the test (and after: its ids are not reused), as are
    the trace ids drawn ahead."""
    drawn: list[str] = _core._IDS
    traces: list[str] = _core._TRACE_IDS
    drawn.clear()
    traces.clear()
    yield drawn
    drawn.clear()
    traces.clear()


def test_random_ids_are_never_all_zeros(
    events: Collect, monkeypatch: pytest.MonkeyPatch, ids_drawn_ahead: list[str]
) -> None:
    monkeypatch.setattr(_core, "_random_bytes", bytes)
    with span("work") as s:
        pass
    assert (s.trace_id, s.span_id) == ("0" * 31 + "1", "0" * 15 + "1")
    with context.bind(trace_id="a" * 32), span("work") as s:
        pass
    assert (s.trace_id, s.span_id) == ("a" * 32, "0" * 15 + "1")


def test_ids_drawn_ahead_are_each_used_once_across_threads(
    events: Collect, ids_drawn_ahead: list[str]
) -> None:
    import threading

    seen: list[tuple[str, str]] = []

    def work() -> None:
        for _ in range(300):
            with span("work") as s:
                seen.append((s.trace_id, s.span_id))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    trace_ids = {trace_id for trace_id, _ in seen}
    span_ids = {span_id for _, span_id in seen}
    assert len(seen) == len(trace_ids) == len(span_ids) == 1200
    assert all(len(t) == 32 and len(s) == 16 and int(t, 16) and int(s, 16) for t, s in seen)


def test_a_forked_child_does_not_reuse_the_ids_the_parent_drew_ahead(
    events: Collect, ids_drawn_ahead: list[str]
) -> None:
    import os

    with span("work"):
        pass
    assert ids_drawn_ahead  # the parent holds ids drawn ahead when it forks
    assert _core._TRACE_IDS
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        with span("work") as s:
            pass
        os.write(write, f"{s.trace_id} {s.span_id}".encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 64).decode().split()
    os.close(read)
    os.waitpid(pid, 0)
    assert len(child) == 2
    parent = set()
    while ids_drawn_ahead or _core._TRACE_IDS:
        with span("work") as s:
            parent.add(s.trace_id)
            parent.add(s.span_id)
    assert not parent & set(child)


def test_values_of_other_types_than_the_stubs_say_work_as_in_plain_python(events: Collect) -> None:
    # logging.config.fileConfig sets propagate (and disabled) to ints; context.bind takes any value.
    parent = logging.getLogger("c2cwsgiutils")
    logger = logging.getLogger("c2cwsgiutils.spans")
    saved = (parent.propagate, logger.propagate, logger.disabled)
    parent.propagate, logger.propagate, logger.disabled = 0, 1, 0  # type: ignore[assignment]
    try:
        with context.bind(sampled=1, kind=7), span("work") as s:
            s.incr("count")
            s.incr("count", 2)
            s.incr("ratio", 0.5)
        (event,) = events.events
        assert (event["count"], event["ratio"]) == (3, 0.5)
        assert type(event["count"]) is int
    finally:
        parent.propagate, logger.propagate, logger.disabled = saved
