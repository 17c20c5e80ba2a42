from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from c2cwsgiutils import context, propagation
from tests.helpers import ROOT, child_env

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN = "00f067aa0ba902b7"


def test_export_outside_any_context_is_empty() -> None:
    assert propagation.export() == {}


def test_export_gives_the_request_id_and_the_current_span_as_parent() -> None:
    with context.bind(request_id="r-1", trace_id=TRACE, span_id=SPAN, sampled=True):
        assert propagation.export() == {
            "X-Request-ID": "r-1",
            "traceparent": f"00-{TRACE}-{SPAN}-03",  # sampled, random trace id
        }


def test_export_carries_the_not_sampled_flag() -> None:
    with context.bind(request_id="r-1", trace_id=TRACE, span_id=SPAN, sampled=False):
        assert propagation.export()["traceparent"].endswith("-02")


def test_adopt_continues_the_trace_under_the_senders_span() -> None:
    headers = {"X-Request-ID": "r-2", "traceparent": f"00-{TRACE}-{SPAN}-01"}
    with propagation.adopt(headers, kind="worker", task_id="t-1") as ctx:
        assert context.current() == ctx
        assert (ctx.request_id, ctx.trace_id, ctx.parent_span_id) == ("r-2", TRACE, SPAN)
        assert ctx.span_id not in ("", SPAN)
        assert (ctx.kind, ctx.task_id, ctx.sampled) == ("worker", "t-1", True)
    assert context.current() == context.EMPTY


def test_adopt_works_in_the_span_the_sender_chose() -> None:
    headers = {"X-Request-ID": "r-2", "traceparent": f"00-{TRACE}-{SPAN}-01"}
    chosen = "1234567890abcdef"
    with propagation.adopt(headers, kind="celery", span_id=chosen, task_id="t-1") as ctx:
        assert (ctx.request_id, ctx.trace_id, ctx.span_id, ctx.parent_span_id) == ("r-2", TRACE, chosen, SPAN)


@pytest.mark.parametrize("bad", [None, "", "0" * 16, "XYZ4567890abcdef", "1234", 42, "a" * 17])
def test_adopt_ignores_an_invalid_chosen_span_id(bad: object) -> None:
    with propagation.adopt({}, span_id=bad) as ctx:  # type: ignore[arg-type]
        assert len(ctx.span_id) == 16
        assert ctx.span_id not in (bad, "0" * 16, "a" * 16)


def test_adopt_matches_header_names_case_insensitively() -> None:
    with propagation.adopt({"x-request-id": "r-3", "TraceParent": f"00-{TRACE}-{SPAN}-00"}) as ctx:
        assert (ctx.request_id, ctx.trace_id, ctx.sampled) == ("r-3", TRACE, False)


def test_adopt_without_headers_starts_a_fresh_request_and_trace() -> None:
    with propagation.adopt({}) as ctx:
        assert len(ctx.request_id) == 32
        assert len(ctx.trace_id) == 32
        assert ctx.parent_span_id == ""


def test_adopt_replaces_an_invalid_request_id_without_logging_it(caplog: pytest.LogCaptureFixture) -> None:
    bad = "evil\nvalue" + "x" * 10
    with propagation.adopt({"X-Request-ID": bad}) as ctx:
        assert ctx.request_id != bad
        assert len(ctx.request_id) == 32
    assert bad not in caplog.text
    assert "invalid incoming X-Request-ID" in caplog.text


def test_adopt_replaces_a_too_long_request_id() -> None:
    with propagation.adopt({"X-Request-ID": "a" * 129}) as ctx:
        assert ctx.request_id != "a" * 129
    with propagation.adopt({"X-Request-ID": "a" * 128}) as ctx:
        assert ctx.request_id == "a" * 128


def test_adopt_accepts_the_documented_charset() -> None:
    value = "Az09-_.:/+=@"
    with propagation.adopt({"X-Request-ID": value}) as ctx:
        assert ctx.request_id == value


def test_adopt_ignores_an_invalid_traceparent() -> None:
    with propagation.adopt({"X-Request-ID": "r-4", "traceparent": f"00-{'0' * 32}-{SPAN}-01"}) as ctx:
        assert ctx.request_id == "r-4"
        assert ctx.trace_id not in ("", "0" * 32)
        assert ctx.parent_span_id == ""


def test_adopt_start_returns_a_token_for_restore() -> None:
    token = propagation.adopt_start({"X-Request-ID": "r-5"}, kind="cli")
    assert context.current().request_id == "r-5"
    context.restore(token)
    assert context.current() == context.EMPTY


CHILD = textwrap.dedent(
    """
    import json, sys
    from c2cwsgiutils import context, propagation
    with propagation.adopt(json.loads(sys.argv[1]), kind="child") as ctx:
        print(json.dumps({"ctx": {"request_id": ctx.request_id, "trace_id": ctx.trace_id,
                                  "span_id": ctx.span_id, "parent_span_id": ctx.parent_span_id,
                                  "kind": ctx.kind},
                          "export": propagation.export()}))
    """
)


def test_round_trip_across_a_real_process() -> None:
    with context.bind(request_id="r-cross", trace_id=TRACE, span_id=SPAN):
        headers = propagation.export()
    output = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(headers)],
        env=child_env(),
        cwd=ROOT,
        capture_output=True,
        check=True,
        timeout=30,
    ).stdout
    child = json.loads(output)
    ctx = child["ctx"]
    assert (ctx["request_id"], ctx["trace_id"], ctx["parent_span_id"], ctx["kind"]) == (
        "r-cross",
        TRACE,
        SPAN,
        "child",
    )
    # What the child exports in turn continues the same trace under the child's own span.
    assert child["export"] == {
        "X-Request-ID": "r-cross",
        "traceparent": f"00-{TRACE}-{ctx['span_id']}-03",
    }


@pytest.mark.parametrize(
    ("caller", "request_id", "trace_id", "parent"),
    [
        (context.Context(request_id="r-9", trace_id=TRACE, span_id=SPAN, sampled=False), "r-9", TRACE, SPAN),
        (context.Context(request_id="r-9", trace_id=TRACE), "r-9", TRACE, None),  # export() makes a span
        (context.Context(request_id="r-9"), "r-9", None, ""),  # no trace: a new one
        (context.Context(request_id="bad id", trace_id="X" * 32, span_id=SPAN), None, None, ""),
        (context.EMPTY, None, None, ""),
    ],
)
def test_continued_context_is_what_adopting_the_exported_headers_gives(
    caller: context.Context, request_id: str | None, trace_id: str | None, parent: str | None
) -> None:
    """None in the expectations: a fresh id, as adopting the exported headers makes."""
    for made in (
        propagation.continued_context(caller, "celery", task_id="t-1"),
        propagation.adopted_context(propagation.export(caller), "celery", task_id="t-1"),
    ):
        assert made.request_id == request_id if request_id else len(made.request_id) == 32
        assert made.trace_id == trace_id if trace_id else made.trace_id not in ("", caller.trace_id)
        assert made.parent_span_id == parent if parent is not None else len(made.parent_span_id) == 16
        assert made.sampled is (caller.sampled if trace_id else True)
        assert (made.kind, made.task_id, len(made.span_id)) == ("celery", "t-1", 16)
