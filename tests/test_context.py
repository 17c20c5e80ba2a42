from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from c2cwsgiutils import context


def test_outside_anything_the_context_is_empty() -> None:
    assert context.current() == context.EMPTY
    assert context.current().request_id == ""


def test_bind_sets_for_the_block_and_restores() -> None:
    with context.bind(request_id="abc", kind="web") as ctx:
        assert ctx.request_id == "abc"
        assert context.current().kind == "web"
        with context.bind(task_id="t1"):
            assert context.current().request_id == "abc"
            assert context.current().task_id == "t1"
        assert context.current().task_id == ""
    assert context.current() == context.EMPTY


def test_bind_restores_after_an_exception() -> None:
    with pytest.raises(RuntimeError), context.bind(request_id="boom"):
        raise RuntimeError
    assert context.current().request_id == ""


def test_plain_threads_do_not_inherit_but_wrapped_ones_do() -> None:
    seen: dict[str, str] = {}

    def note(name: str) -> None:
        seen[name] = context.current().request_id

    with context.bind(request_id="r1"):
        plain = threading.Thread(target=note, args=("plain",))
        wrapped = threading.Thread(target=context.wrap(note), args=("wrapped",))
        plain.start()
        wrapped.start()
        plain.join()
        wrapped.join()
    assert seen == {"plain": "", "wrapped": "r1"}


def test_submit_carries_the_context_into_an_executor() -> None:
    with ThreadPoolExecutor(1) as executor, context.bind(request_id="r2"):
        assert context.submit(executor, lambda: context.current().request_id).result() == "r2"


def test_concurrent_asyncio_tasks_do_not_leak() -> None:
    async def handle(request_id: str) -> str:
        with context.bind(request_id=request_id):
            await asyncio.sleep(0.01)
            return context.current().request_id

    async def main() -> list[str]:
        return await asyncio.gather(*(handle(f"id{i}") for i in range(20)))

    assert asyncio.run(main()) == [f"id{i}" for i in range(20)]


def test_one_thread_serving_two_requests_does_not_leak() -> None:
    def serve(request_id: str) -> str:
        token = context.start(context.Context(request_id=request_id))
        try:
            return context.current().request_id
        finally:
            context.restore(token)

    with ThreadPoolExecutor(1) as executor:
        assert executor.submit(serve, "a").result() == "a"
        assert executor.submit(lambda: context.current().request_id).result() == ""


def test_parse_valid_traceparent() -> None:
    value = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    assert context.parse_traceparent(value) == (
        "4bf92f3577b34da6a3ce929d0e0e4736",
        "00f067aa0ba902b7",
        True,
        False,
    )


@pytest.mark.parametrize(
    "value",
    [
        "",
        "garbage",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
    ],
)
def test_invalid_traceparents_are_ignored(value: str) -> None:
    assert context.parse_traceparent(value) is None


def test_future_versions_may_carry_extra_fields() -> None:
    value = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-02-whatever"
    assert context.parse_traceparent(value) == (
        "4bf92f3577b34da6a3ce929d0e0e4736",
        "00f067aa0ba902b7",
        False,
        True,
    )


def test_traceparent_round_trip() -> None:
    ctx = context.Context(trace_id=context.new_trace_id(), span_id=context.new_span_id())
    assert context.parse_traceparent(ctx.traceparent) == (ctx.trace_id, ctx.span_id, True, True)


def test_new_request_ids_are_uuid4_hex() -> None:
    import uuid

    for value in [context.new_request_id() for _ in range(50)] + [context.new_ids()[0] for _ in range(50)]:
        parsed = uuid.UUID(value)
        assert (parsed.hex, parsed.version, parsed.variant) == (value, 4, uuid.RFC_4122)


def test_new_ids_are_well_formed_and_unique() -> None:
    request_ids, trace_ids, span_ids = zip(*(context.new_ids() for _ in range(100)), strict=True)
    assert len(set(request_ids)) == len(set(trace_ids)) == len(set(span_ids)) == 100
    assert all(len(t) == 32 and len(s) == 16 for t, s in zip(trace_ids, span_ids, strict=True))


def test_a_forked_child_does_not_repeat_the_parent_ids() -> None:
    import os

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.write(write, context.new_request_id().encode())
        os._exit(0)
    os.close(write)
    child_id = os.read(read, 64).decode()
    os.close(read)
    os.waitpid(pid, 0)
    assert child_id != context.new_request_id()
    assert len(child_id) == 32


def test_child_traceparent_is_a_new_span_of_the_same_trace() -> None:
    ctx = context.Context(trace_id="a" * 32, span_id="b" * 16, sampled=False, random_trace_id=False)
    version, trace_id, span_id, flags = context.child_traceparent(ctx).split("-")
    assert (version, trace_id, flags) == ("00", "a" * 32, "00")
    assert span_id != "b" * 16


def test_child_traceparent_without_a_trace_starts_one() -> None:
    assert context.parse_traceparent(context.child_traceparent(context.EMPTY)) is not None


@pytest.mark.parametrize(
    ("value", "expected"),
    [("congo=t61rcWkgMzE", "congo=t61rcWkgMzE"), ("a=1\r\nX: y", ""), ("x" * 513, ""), (None, "")],
)
def test_tracestate_is_kept_only_when_safe(value: str | None, expected: str) -> None:
    assert context.parse_tracestate(value) == expected


def test_a_context_is_immutable() -> None:
    with pytest.raises(AttributeError):
        context.EMPTY.request_id = "x"  # type: ignore[misc]


def test_the_random_trace_id_flag_defaults_to_set_and_is_sent() -> None:
    ctx = context.Context(trace_id="a" * 32, span_id="b" * 16)
    assert ctx.random_trace_id is True
    assert ctx.traceparent.endswith("-03")
    assert ctx._replace(random_trace_id=False, sampled=False).traceparent.endswith("-00")


def test_the_fast_copies_are_replace_with_every_other_field_kept() -> None:
    ctx = context.Context(
        "r", "a" * 32, "b" * 16, "c" * 16, True, "web", "t", "request", "home", "k=v", False
    )
    assert context.with_route(ctx, "item") == ctx._replace(route="item")
    assert context.span_context(ctx, "d" * 32, "e" * 16, "b" * 16, "req.sql") == ctx._replace(
        trace_id="d" * 32, span_id="e" * 16, parent_span_id="b" * 16, span_path="req.sql"
    )
    assert context.unsampled(ctx, "request.work") == ctx._replace(sampled=False, span_path="request.work")
    assert type(context.span_context(ctx, "", "", "", "")) is context.Context
    assert context.correlation(ctx) == ("r", "a" * 32, "b" * 16, "c" * 16, "web", "t")


def test_only_the_context_module_touches_the_variable_or_the_layout() -> None:
    package = Path(context.__file__).parent
    offenders = [
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if path.name not in ("context.py", "_context_core.py")  # the module and its compiled half
        and any(word in path.read_text() for word in ("_CURRENT", "tuple.__new__(Context", "Context._fields"))
    ]
    assert offenders == []
