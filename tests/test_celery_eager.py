"""Eager tasks (``task.apply()``) continue the caller's context as a worker would adopt it."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from celery import Celery

from c2cwsgiutils import celery as c2c_celery
from c2cwsgiutils import context, propagation


@pytest.fixture(scope="module")
def seen() -> Any:
    app = Celery("eager", broker="memory://", backend="cache+memory://")
    app.conf.task_store_eager_result = False

    @app.task  # type: ignore[untyped-decorator]  # celery is untyped
    def whoami() -> context.Context:
        return context.current()

    c2c_celery.setup(app, log_format=False)
    return whoami


def _adopted(caller: context.Context) -> context.Context:
    """What a worker makes of the headers ``caller`` exports (the reference behaviour)."""
    return propagation.adopted_context(propagation.export(caller), kind="celery", task_id="t")


def _same_but_random_ids(eager: context.Context, adopted: context.Context) -> None:
    assert (eager.kind, eager.sampled, eager.span_path) == ("celery", adopted.sampled, "")
    assert len(eager.span_id) == 16
    assert eager.span_id != adopted.span_id


def test_an_eager_task_continues_the_callers_request_and_trace_under_its_span(seen: Any) -> None:
    with context.bind(request_id="r-1", trace_id="a" * 32, span_id="b" * 16, sampled=False) as caller:
        result = seen.apply().get()
        assert context.current() == caller
    _same_but_random_ids(result, _adopted(caller))
    assert (result.request_id, result.trace_id, result.parent_span_id) == ("r-1", "a" * 32, "b" * 16)
    assert result.task_id
    assert result.sampled is False


def test_an_eager_task_outside_any_context_starts_a_request_and_a_trace(seen: Any) -> None:
    result = seen.apply().get()
    assert context.current() == context.EMPTY
    assert len(result.request_id) == 32
    assert len(result.trace_id) == 32
    assert (result.parent_span_id, result.sampled, result.kind) == ("", True, "celery")


def test_an_eager_task_in_a_context_without_trace_keeps_the_request_id(seen: Any) -> None:
    with context.bind(request_id="r-2"):
        result = seen.apply().get()
    assert result.request_id == "r-2"
    assert len(result.trace_id) == 32
    assert result.parent_span_id == ""


def test_an_eager_task_replaces_an_invalid_request_id_like_a_worker(
    seen: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING), context.bind(request_id="bad id", trace_id="a" * 32):
        result = seen.apply().get()
    assert result.request_id != "bad id"
    assert len(result.request_id) == 32
    assert result.trace_id == "a" * 32
    assert "Ignored an invalid incoming X-Request-ID" in caplog.text


def test_an_eager_task_starts_a_new_trace_when_the_callers_is_invalid(seen: Any) -> None:
    with context.bind(request_id="r-3", trace_id="not-a-trace", span_id="b" * 16):
        result = seen.apply().get()
    assert result.request_id == "r-3"
    assert result.trace_id != "not-a-trace"
    assert len(result.trace_id) == 32
    assert result.parent_span_id == ""
