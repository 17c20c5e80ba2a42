"""CollectorHandler against the real collector (``c2cwsgiutils-logs serve``, SQLite), not the stand-in
of tests/logging/collector_server.py: what the handler sends is stored and read back as logged."""

from __future__ import annotations

import http.client
import json
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from c2cwsgiutils import context
from c2cwsgiutils.logging.collector_handler import CollectorHandler
from tests.collector.serve import serve_collector
from tests.helpers import wait_for


@pytest.fixture(scope="module")
def collector_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    with serve_collector(tmp_path_factory.mktemp("collector")) as port:
        yield port


def _get(port: int, path: str) -> Any:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read()
        assert response.status == 200, body
        return json.loads(body)
    finally:
        connection.close()


def _request_records(port: int, request_id: str) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = _get(port, f"/api/v1/request/{request_id}")["records"]
    return records


def _logger(handler: logging.Handler) -> logging.Logger:
    logger = logging.getLogger(f"test.real_collector.{uuid.uuid4().hex[:8]}")
    logger.handlers = [handler]
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    return logger


@pytest.fixture
def handler(collector_port: int, tmp_path: Path) -> Iterator[CollectorHandler]:
    made = CollectorHandler(
        url=f"http://127.0.0.1:{collector_port}",
        service="svc-real",
        spool_dir=str(tmp_path / "spool"),
        batch_age=0.05,
        retry_min=0.05,
        retry_max=0.2,
        flush_timeout=5,
        timeout=10,
    )
    yield made
    made.close()


def test_records_are_stored_with_their_fields_context_and_traceback(
    collector_port: int, handler: CollectorHandler
) -> None:
    log = _logger(handler)
    request_id = uuid.uuid4().hex
    with context.bind(request_id=request_id, trace_id="a" * 32, span_id="b" * 16, kind="web"):
        log.warning("user %s did %d things: é ✓", "bob", 3, extra={"user_id": 42, "tags": ["x", "y"]})
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("failed")
    wait_for(lambda: len(_request_records(collector_port, request_id)) == 2, 30, "both records stored")
    first, second = _request_records(collector_port, request_id)  # oldest first
    assert first["message"] == "user bob did 3 things: é ✓"
    assert (first["level_name"], first["name"], first["service"]) == ("WARNING", log.name, "svc-real")
    assert (first["trace_id"], first["span_id"], first["kind"]) == ("a" * 32, "b" * 16, "web")
    assert first["data"]["user_id"] == 42
    assert first["data"]["tags"] == ["x", "y"]
    assert second["level_name"] == "ERROR"
    assert "ValueError: boom" in json.dumps(second["data"])


def test_every_record_of_a_burst_is_stored_once(collector_port: int, handler: CollectorHandler) -> None:
    log = _logger(handler)
    request_id = uuid.uuid4().hex
    with context.bind(request_id=request_id):
        for i in range(500):
            log.info("burst %d", i)
    handler.flush()
    wait_for(lambda: len(_request_records(collector_port, request_id)) >= 500, 30, "the burst stored")
    messages = [record["message"] for record in _request_records(collector_port, request_id)]
    assert sorted(messages) == sorted(f"burst {i}" for i in range(500))
