"""A worker keeps the logging its tasks module configured at import time (the set-up of docs/celery.md)."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from c2cwsgiutils import context
from tests import celery_logging_app
from tests.helpers import start_celery_worker, stop_process

pytestmark = pytest.mark.slow

PREFIX = f"c2c_test_celery_logging_{uuid.uuid4().hex[:8]}:"
TIMEOUT = 30


def _records(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").split("\n")[:-1]  # complete lines only
    return [json.loads(line) for line in lines if line.strip()]


def test_a_prefork_worker_keeps_the_handlers_configured_at_import(redis_url: str, tmp_path: Path) -> None:
    import redis

    conf = celery_logging_app.app.conf
    conf.broker_url = conf.result_backend = redis_url
    conf.broker_transport_options = conf.result_backend_transport_options = {"global_keyprefix": PREFIX}
    queue = f"{PREFIX}queue"
    json_log = tmp_path / "worker.jsonl"
    with (tmp_path / "worker.log").open("wb") as text_log:
        process = start_celery_worker(
            "tests.celery_logging_app",
            queue,
            {
                "C2C_CELERY_BROKER_URL": redis_url,
                "C2C_TEST_CELERY_PREFIX": PREFIX,
                "C2C_TEST_CELERY_QUEUE": queue,
                "C2C_TEST_CELERY_JSON_LOG": str(json_log),
            },
            text_log,
            concurrency=1,
        )
        try:
            with context.bind(request_id="celery-logging-1"):
                result = celery_logging_app.hello.apply_async(queue=queue)
            assert result.get(timeout=TIMEOUT) == "hello"
            deadline = time.monotonic() + TIMEOUT
            found: list[dict[str, Any]] = []
            while not found and time.monotonic() < deadline:
                found = [r for r in _records(json_log) if r.get("msg") == "hello from the worker"]
                time.sleep(0.05)
        finally:
            stop_process(process)
            celery_logging_app.app.close()
            client = redis.Redis.from_url(redis_url)
            keys = list(client.scan_iter(match=PREFIX + "*"))
            if keys:
                client.delete(*keys)
            client.close()
    assert found, (tmp_path / "worker.log").read_text()[-3000:]
    assert found[0]["request_id"] == "celery-logging-1"
    assert found[0]["task_id"] == result.id


def test_an_explicit_hijack_setting_is_kept() -> None:
    from celery import Celery

    from c2cwsgiutils.celery import setup

    app = Celery("explicit", broker="memory://")
    app.conf.worker_hijack_root_logger = True
    assert setup(app).conf.worker_hijack_root_logger is True
    assert setup(Celery("default", broker="memory://")).conf.worker_hijack_root_logger is False
