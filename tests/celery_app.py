"""The Celery application of the integration tests: ``celery -A tests.celery_app worker``.

Configured from the environment by the test fixture: broker/backend from C2C_CELERY_BROKER_URL,
a key prefix (C2C_TEST_CELERY_PREFIX) and a queue (C2C_TEST_CELERY_QUEUE) of its own so that
parallel test runs sharing one Redis never see each other's tasks, and every log record written
as one JSON line to C2C_TEST_CELERY_JSON_LOG.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

from celery import signals

from c2cwsgiutils import context, spans
from c2cwsgiutils.celery import create_app, install_log_filter
from c2cwsgiutils.logging.record import record_to_dict

LOG = logging.getLogger(__name__)
PREFIX = os.environ.get("C2C_TEST_CELERY_PREFIX", "c2c_test_celery:")
QUEUE = os.environ.get("C2C_TEST_CELERY_QUEUE", "c2c_test_celery")

# What the context was when a task was about to start, before the integration adopted its
# headers: it must be empty, whatever the task before it in the same process did.
LEFTOVER: dict[str, str] = {}


@signals.task_prerun.connect(weak=False)  # type: ignore[untyped-decorator]  # celery is untyped
def _remember_leftover(task_id: str, **_: Any) -> None:
    LEFTOVER[task_id] = context.current().request_id


app = create_app(
    "tests.celery_app",
    task_default_queue=QUEUE,
    broker_transport_options={"global_keyprefix": PREFIX},
    result_backend_transport_options={"global_keyprefix": PREFIX},
    worker_hijack_root_logger=True,
    broker_connection_retry_on_startup=True,
    worker_enable_remote_control=False,
)


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(record_to_dict(record, formatter=self), default=repr)


@signals.after_setup_logger.connect(weak=False)  # type: ignore[untyped-decorator]  # celery is untyped
def _json_log(logger: logging.Logger, **_: Any) -> None:
    path = os.environ.get("C2C_TEST_CELERY_JSON_LOG")
    if path:
        handler = logging.FileHandler(path)
        handler.setFormatter(JsonLines())
        logger.addHandler(handler)
        install_log_filter(logger)
    logging.getLogger("c2cwsgiutils.spans").setLevel(logging.INFO)


def _seen() -> dict[str, Any]:
    ctx = context.current()
    return {
        "request_id": ctx.request_id,
        "task_id": ctx.task_id,
        "kind": ctx.kind,
        "trace_id": ctx.trace_id,
        "span_id": ctx.span_id,
        "parent_span_id": ctx.parent_span_id,
    }


@app.task  # type: ignore[untyped-decorator]  # celery is untyped
def whoami(*_: Any) -> dict[str, Any]:
    """Log a line and return the context the task ran in (and what was left before it)."""
    LOG.info("whoami runs")
    seen = _seen()
    seen["leftover"] = LEFTOVER.pop(seen["task_id"], None)
    return seen


@app.task  # type: ignore[untyped-decorator]  # celery is untyped
def fail() -> None:
    LOG.info("about to fail")
    raise ValueError("expected failure")


@app.task  # type: ignore[untyped-decorator]  # celery is untyped
def send_nested() -> str:
    """Send another task from inside this one and return its id."""
    return str(whoami.delay().id)


@app.task  # type: ignore[untyped-decorator]  # celery is untyped
def spanned() -> dict[str, Any]:
    with spans.span(".work") as work:
        work.set("answer", 42)
    return _seen()


@app.task(bind=True, max_retries=1, default_retry_delay=0)  # type: ignore[untyped-decorator]  # celery is untyped
def retry_once(self: Any) -> dict[str, Any]:
    """Ask for a retry on the first run, return the context (and the leftover) on the second."""
    if self.request.retries == 0:
        LOG.info("asking for a retry")
        raise self.retry(countdown=0)
    context_seen: dict[str, Any] = whoami.run()
    return context_seen


@app.task(soft_time_limit=0.3)  # type: ignore[untyped-decorator]  # celery is untyped
def too_slow() -> None:
    import time

    LOG.info("about to time out")
    time.sleep(5)


@app.task(time_limit=1)  # type: ignore[untyped-decorator]  # celery is untyped
def far_too_slow() -> None:
    import time

    LOG.info("about to be killed")
    time.sleep(10)


_ENGINES: dict[str, Any] = {}


@app.task  # type: ignore[untyped-decorator]  # celery is untyped
def sql_tags(url: str) -> dict[str, str]:
    """What PostgreSQL sees of this task's SQL: its application_name and its (commented) query."""
    import sqlalchemy

    from c2cwsgiutils.sql import instrument

    engine = _ENGINES.get(url)
    if engine is None:
        engine = _ENGINES[url] = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
        instrument(engine)
    with engine.connect() as connection:
        name, query = connection.execute(
            sqlalchemy.text(
                "SELECT current_setting('application_name'), query"
                " FROM pg_stat_activity WHERE pid = pg_backend_pid()"
            )
        ).one()
    return {"application_name": name, "query": query, "task_id": context.current().task_id}
