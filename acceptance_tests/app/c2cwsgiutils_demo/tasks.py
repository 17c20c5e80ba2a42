"""The demo's Celery tasks. Start a worker beside the web service with::

    celery -A c2cwsgiutils_demo.tasks worker --loglevel INFO

It reads the same ini as the web service (``C2CWSGIUTILS_CONFIG``, default: the demo's
``production.ini``) for its database, and ``C2C_CELERY_BROKER_URL`` (default: Redis on
localhost) for its broker. ``c2cwsgiutils.celery.create_app`` wires the request ID: a task sent
from a request runs with that request's ID, and every line it logs carries it and the task id.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any

from celery import signals
from sqlalchemy import Engine, text

from c2cwsgiutils import context, paste_config, spans
from c2cwsgiutils.celery import create_app, install_log_filter
from c2cwsgiutils.sql import instrument
from c2cwsgiutils_demo import db

LOG = logging.getLogger(__name__)
DEFAULT_INI = Path(__file__).resolve().parent.parent / "production.ini"


def _ini() -> str:
    return os.environ.get("C2CWSGIUTILS_CONFIG") or str(DEFAULT_INI)


def _settings() -> dict[str, str]:
    return paste_config.load_settings(_ini())


@signals.setup_logging.connect(weak=False)  # type: ignore[untyped-decorator]  # celery is untyped
def _setup_logging(**_: Any) -> None:
    # The worker logs like the web service: the ini's handlers (JSON on stderr, the collector).
    # Connecting to this signal keeps Celery from configuring logging itself.
    paste_config.setup_logging(_ini())
    install_log_filter()


# The demo's own queue (DEMO_CELERY_QUEUE): a shared broker never hands its tasks to another project.
QUEUE = os.environ.get("DEMO_CELERY_QUEUE", "c2cwsgiutils_demo")
app = create_app(__name__, _settings(), task_default_queue=QUEUE)

_engine: Engine | None = None
_engine_lock = threading.Lock()


def engine() -> Engine:
    """The worker's engine, made on first use: once per prefork child, after the fork."""
    global _engine
    with _engine_lock:
        if _engine is None:
            settings = _settings()
            _engine = db.get_engine(settings)
            # Tag the worker's SQL with the request ID and task id, as the web service does.
            instrument(_engine, settings=settings)
        return _engine


@app.task(name="demo.sleep_in_worker")  # type: ignore[untyped-decorator]  # celery is untyped
def sleep_in_worker(seconds: float) -> dict[str, Any]:
    """Run a SQL query that takes ``seconds`` (``pg_sleep`` on PostgreSQL, ``sleep`` on SQLite)."""
    database = engine()
    function = "pg_sleep" if database.dialect.name == "postgresql" else "sleep"
    LOG.info("Sleeping %s s in the worker", seconds)
    with spans.span(".sql") as span, span.timeit("db_time"), database.connect() as connection:
        connection.execute(text(f"SELECT {function}(:seconds)"), {"seconds": seconds})
    ctx = context.current()
    return {
        "slept": seconds,
        "database": database.dialect.name,
        "request_id": ctx.request_id,
        "task_id": ctx.task_id,
    }
