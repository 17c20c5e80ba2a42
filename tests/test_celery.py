"""The Celery integration against real workers (prefork and threads pools) on the real Redis."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from celery import chain

from c2cwsgiutils import context, spans
from tests import celery_app
from tests.helpers import start_celery_worker, stop_process
from tests.test_spans import Collect

pytestmark = pytest.mark.slow

PREFIX = f"c2c_test_celery_{uuid.uuid4().hex[:8]}:"
TIMEOUT = 30


@dataclass
class Worker:
    queue: str
    json_log: Path
    text_log: Path

    def records(self) -> list[dict[str, Any]]:
        # The worker may be writing a line right now: only complete lines (ending with \n) count.
        lines = self.json_log.read_text(encoding="utf-8").split("\n")[:-1]
        return [json.loads(line) for line in lines if line.strip()]

    def records_of(self, task_id: str, last: str = "succeeded") -> list[dict[str, Any]]:
        """The JSON records of one task, once Celery logged its outcome (``last`` in a message)."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            found = [r for r in self.records() if task_id in (r.get("task_id"), str(r.get("data")))]
            if any(last in str(r["msg"]) for r in found) or time.monotonic() > deadline:
                return [r for r in found if r.get("task_id") == task_id]
            time.sleep(0.05)

    def send(self, task: Any, *args: Any) -> Any:
        return task.apply_async(args, queue=self.queue)


@pytest.fixture(scope="module")
def client(redis_url: str) -> Iterator[None]:
    """The test process's side of the Celery app: same Redis, same key prefix as the workers."""
    conf = celery_app.app.conf
    conf.broker_url = conf.result_backend = redis_url
    conf.broker_transport_options = {"global_keyprefix": PREFIX}
    conf.result_backend_transport_options = {"global_keyprefix": PREFIX}
    yield
    import redis

    celery_app.app.close()
    redis_client = redis.Redis.from_url(redis_url)
    keys = list(redis_client.scan_iter(match=PREFIX + "*"))
    if keys:
        redis_client.delete(*keys)
    redis_client.close()


@pytest.fixture(scope="module", params=["prefork", "threads"])
def worker(
    request: pytest.FixtureRequest, client: None, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Worker]:
    pool = request.param
    queue = f"{PREFIX}{pool}"
    folder = tmp_path_factory.mktemp(f"celery-{pool}")
    found = Worker(queue, folder / "worker.jsonl", folder / "worker.log")
    log = found.text_log.open("wb")
    process = start_celery_worker(
        "tests.celery_app",
        queue,
        {
            "C2C_CELERY_BROKER_URL": redis_url,
            "C2C_TEST_CELERY_PREFIX": PREFIX,
            "C2C_TEST_CELERY_QUEUE": queue,
            "C2C_TEST_CELERY_JSON_LOG": str(found.json_log),
            "C2C_SQL_REQUEST_ID": "true",
            "C2C_SQL_REQUEST_ID_MODE": "both",
        },
        log,
        pool=pool,
    )
    try:
        try:
            found.send(celery_app.whoami).get(timeout=TIMEOUT)
        except Exception:
            pytest.fail(f"the {pool} worker did not answer:\n{found.text_log.read_text()[-3000:]}")
        yield found
    finally:
        stop_process(process)
        log.close()


@pytest.fixture
def span_events() -> Iterator[None]:
    logger = logging.getLogger("c2cwsgiutils.spans")
    level = logger.level
    logger.setLevel(logging.INFO)
    spans.configure(events=True)
    yield
    logger.setLevel(level)


def test_a_task_runs_with_the_request_id_of_its_sender_and_its_own_task_id(worker: Worker) -> None:
    with context.bind(request_id="req-celery-1"):
        result = worker.send(celery_app.whoami)
    seen = result.get(timeout=TIMEOUT)
    assert (seen["request_id"], seen["task_id"], seen["kind"]) == ("req-celery-1", result.id, "celery")


def test_every_json_log_line_of_the_task_carries_the_request_id(worker: Worker) -> None:
    with context.bind(request_id="req-celery-2"):
        result = worker.send(celery_app.whoami)
    result.get(timeout=TIMEOUT)
    records = worker.records_of(result.id)
    loggers = {r["logger_name"] for r in records}
    assert {"tests.celery_app", "celery.app.trace", "celery.worker.strategy"} <= loggers
    assert {r["request_id"] for r in records} == {"req-celery-2"}


def test_the_text_log_shows_the_request_id_and_task_id(worker: Worker) -> None:
    with context.bind(request_id="req-celery-text"):
        result = worker.send(celery_app.whoami)
    result.get(timeout=TIMEOUT)
    worker.records_of(result.id)
    lines = [line for line in worker.text_log.read_text().splitlines() if "whoami runs" in line]
    assert any(f"[request_id=req-celery-text task_id={result.id}]" in line for line in lines), lines


def test_a_chain_of_two_tasks_keeps_the_request_id(worker: Worker) -> None:
    with context.bind(request_id="req-chain"):
        result = chain(
            celery_app.whoami.s().set(queue=worker.queue), celery_app.whoami.s().set(queue=worker.queue)
        ).apply_async()
    second = result.get(timeout=TIMEOUT)
    first = result.parent.get(timeout=TIMEOUT)
    assert (first["request_id"], second["request_id"]) == ("req-chain", "req-chain")
    assert first["task_id"] != second["task_id"]


def test_a_task_sent_by_a_task_keeps_the_request_id(worker: Worker) -> None:
    with context.bind(request_id="req-nested"):
        nested_id = worker.send(celery_app.send_nested).get(timeout=TIMEOUT)
    seen = celery_app.app.AsyncResult(nested_id).get(timeout=TIMEOUT)
    assert seen["request_id"] == "req-nested"
    assert seen["task_id"] == nested_id


def test_a_task_sent_from_nowhere_gets_a_fresh_request_id(worker: Worker) -> None:
    first = worker.send(celery_app.whoami).get(timeout=TIMEOUT)
    second = worker.send(celery_app.whoami).get(timeout=TIMEOUT)
    assert re.fullmatch("[0-9a-f]{32}", first["request_id"])
    assert first["request_id"] != second["request_id"]


def test_a_failing_task_logs_its_ids_and_leaves_no_context_behind(worker: Worker) -> None:
    with context.bind(request_id="req-fail"):
        failed = worker.send(celery_app.fail)
    with pytest.raises(ValueError, match="expected failure"):
        failed.get(timeout=TIMEOUT)
    records = worker.records_of(failed.id, last="raised unexpected")
    assert any("raised unexpected" in r["msg"] for r in records)
    assert {r["request_id"] for r in records} == {"req-fail"}
    # Enough tasks to pass through every process/thread of the pool: each starts from nothing.
    after = [worker.send(celery_app.whoami) for _ in range(6)]
    seen = [result.get(timeout=TIMEOUT) for result in after]
    assert [s["leftover"] for s in seen] == [""] * 6
    assert all(s["request_id"] not in ("", "req-fail") for s in seen)


@pytest.fixture
def sender_events() -> Iterator[Collect]:
    logger = logging.getLogger("c2cwsgiutils.spans")
    handler = Collect()
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


def test_the_task_span_is_a_child_of_the_send_span_of_the_sender(
    worker: Worker, span_events: None, sender_events: Collect
) -> None:
    with context.bind(request_id="req-span"), spans.span("client") as client:
        result = worker.send(celery_app.spanned)
    seen = result.get(timeout=TIMEOUT)
    (send,) = [e for e in sender_events.events if e["span_name"] == "celery send"]
    assert (send["trace_id"], send["parent_span_id"]) == (client.trace_id, client.span_id)
    assert (send["span_kind"], send["task_name"], send["sent_task_id"], send["queue"]) == (
        "producer",
        "tests.celery_app.spanned",
        result.id,
        worker.queue,
    )
    assert (seen["trace_id"], seen["parent_span_id"]) == (client.trace_id, send["span_id"])
    # The task's span ends in task_postrun, after Celery logged "succeeded".
    records = worker.records_of(result.id, last="span task ")
    by_name = {r["span_name"]: r for r in records if r["logger_name"] == "c2cwsgiutils.spans"}
    assert set(by_name) == {"task", "task.work"}
    task_span = by_name["task"]
    assert (task_span["span_id"], task_span["parent_span_id"]) == (seen["span_id"], send["span_id"])
    assert by_name["task.work"]["parent_span_id"] == seen["span_id"]
    assert by_name["task.work"]["answer"] == 42
    assert (task_span["span_kind"], task_span["task_name"], task_span["state"], task_span["queue"]) == (
        "task",
        "tests.celery_app.spanned",
        "success",
        worker.queue,
    )
    assert isinstance(task_span["duration_ms"], float)
    assert {r["trace_id"] for r in by_name.values()} == {client.trace_id}
    assert context.current() == context.EMPTY


def test_a_retried_task_has_one_span_per_run_with_its_state(worker: Worker, span_events: None) -> None:
    with context.bind(request_id="req-retry-span"):
        result = worker.send(celery_app.retry_once)
    result.get(timeout=TIMEOUT)
    deadline = time.monotonic() + TIMEOUT
    task_spans: list[dict[str, Any]] = []
    while len(task_spans) < 2 and time.monotonic() < deadline:
        records = worker.records_of(result.id, last="span task ")
        task_spans = [r for r in records if r.get("span_name") == "task"]
        time.sleep(0.05)
    states = sorted((r["state"], r["status"]) for r in task_spans)
    assert states == [("retry 1", "error"), ("success", "ok")]


def test_the_received_line_is_in_the_span_of_the_task(worker: Worker) -> None:
    sender = context.new_span_id()
    spans.configure(events=False)  # no send span in between: the task is the sender's child
    try:
        with context.bind(request_id="req-received", trace_id=context.new_trace_id(), span_id=sender):
            result = worker.send(celery_app.whoami)
    finally:
        spans.configure(events=True)
    seen = result.get(timeout=TIMEOUT)
    received = [r for r in worker.records_of(result.id) if str(r["msg"]).endswith("] received")]
    assert len(received) == 1
    assert seen["span_id"] not in ("", sender)  # the task runs in a span of its own ...
    assert seen["parent_span_id"] == sender
    # ... chosen by the sender, and the worker's main process logged "received" into it.
    assert (received[0]["request_id"], received[0]["span_id"]) == ("req-received", seen["span_id"])


def test_a_failing_task_span_has_status_error(worker: Worker, span_events: None) -> None:
    failed = worker.send(celery_app.fail)
    with pytest.raises(ValueError, match="expected failure"):
        failed.get(timeout=TIMEOUT)
    records = worker.records_of(failed.id, last="span task")
    task_spans = [r for r in records if r.get("span_name") == "task"]
    assert [(r["status"], r["error_type"], r["state"]) for r in task_spans] == [
        ("error", "ValueError", "failure")
    ]
    assert "expected failure" in task_spans[0]["error_message"]


def test_sql_sent_from_a_task_is_tagged(worker: Worker, pg_url: str) -> None:
    with context.bind(request_id="req-sql"):
        result = worker.send(celery_app.sql_tags, pg_url)
    seen = result.get(timeout=TIMEOUT)
    assert seen["task_id"] == result.id
    # application_name mode: request id and kind (a 36-character task id does not fit in 63 bytes).
    assert seen["application_name"].startswith("rid=req-sql,kind=celery,")
    # comment mode: the statement as PostgreSQL shows it in pg_stat_activity.
    assert seen["query"].startswith(
        f"/*kind='celery',request_id='req-sql',task_id='{result.id}',traceparent='00-"
    )


def test_a_retried_task_keeps_the_request_id_and_leaves_no_context_behind(worker: Worker) -> None:
    with context.bind(request_id="req-retry"):
        result = worker.send(celery_app.retry_once)
    seen = result.get(timeout=TIMEOUT)
    assert (seen["request_id"], seen["task_id"]) == ("req-retry", result.id)
    after = [worker.send(celery_app.whoami).get(timeout=TIMEOUT) for _ in range(4)]
    assert [s["leftover"] for s in after] == [""] * 4


def test_a_task_over_its_soft_time_limit_leaves_no_context_behind(worker: Worker) -> None:
    if "threads" in worker.queue:
        pytest.skip("Celery's threads pool has no time limits")
    with context.bind(request_id="req-timeout"):
        result = worker.send(celery_app.too_slow)
    with pytest.raises(Exception, match=r"SoftTimeLimitExceeded|TimeLimit"):
        result.get(timeout=TIMEOUT)
    records = worker.records_of(result.id, last="raised unexpected")
    assert {r["request_id"] for r in records} == {"req-timeout"}
    after = [worker.send(celery_app.whoami) for _ in range(4)]
    assert [r.get(timeout=TIMEOUT)["leftover"] for r in after] == [""] * 4


def test_a_request_and_its_task_form_one_span_tree(worker: Worker, span_events: None) -> None:
    from pyramid.config import Configurator
    from webtest import TestApp

    from tests.test_spans import Collect

    def send(request: Any) -> dict[str, Any]:
        return {"task_id": worker.send(celery_app.spanned).id}

    with Configurator() as config:
        config.include("c2cwsgiutils.spans")
        config.add_route("send", "/send")
        config.add_view(send, route_name="send", renderer="json")
        app = TestApp(config.make_wsgi_app())
    collect = Collect()
    logger = logging.getLogger("c2cwsgiutils.spans")
    logger.addHandler(collect)
    try:
        task_id = app.get("/send", headers={"X-Request-ID": "req-tree"}).json["task_id"]
    finally:
        logger.removeHandler(collect)
    celery_app.app.AsyncResult(task_id).get(timeout=TIMEOUT)
    web, send_event = collect.by_name()["request"], collect.by_name()["celery send"]
    worker_events = {
        r["span_name"]: r
        for r in worker.records_of(task_id, last="span task ")
        if r["logger_name"] == "c2cwsgiutils.spans"
    }
    events = [web, *worker_events.values()]
    assert {e["request_id"] for e in events} == {"req-tree"}
    assert {e["trace_id"] for e in events} == {web["trace_id"]}
    assert send_event["parent_span_id"] == web["span_id"]
    assert worker_events["task"]["parent_span_id"] == send_event["span_id"]
    assert worker_events["task.work"]["parent_span_id"] == worker_events["task"]["span_id"]


def test_the_main_process_logs_a_hard_time_limit_with_the_ids(worker: Worker) -> None:
    if "threads" in worker.queue:
        pytest.skip("Celery's threads pool has no time limits")
    with context.bind(request_id="req-killed"):
        result = worker.send(celery_app.far_too_slow)
    with pytest.raises(Exception, match=r"TimeLimitExceeded"):
        result.get(timeout=TIMEOUT)
    records = worker.records_of(result.id, last="Hard time limit")
    hard = [r for r in records if "Hard time limit" in r["msg"]]
    assert [(r["process_name"], r["request_id"]) for r in hard] == [("MainProcess", "req-killed")]
    assert {r["request_id"] for r in records} == {"req-killed"}
