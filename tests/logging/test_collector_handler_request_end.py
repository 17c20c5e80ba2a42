"""CollectorHandler sends a request's records as soon as the request ends, not after its batch age."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from c2cwsgiutils import spans
from c2cwsgiutils.logging.collector_handler import CollectorHandler
from tests.helpers import free_port, wait_for
from tests.logging.collector_server import CollectorServer

BATCH_AGE = 120.0  # longer than any wait of these tests: what arrives was sent early


@pytest.fixture
def server() -> Iterator[CollectorServer]:
    srv = CollectorServer(free_port()).start()
    yield srv
    srv.stop()


@pytest.fixture
def handler(server: CollectorServer, tmp_path: Path) -> Iterator[CollectorHandler]:
    """A handler with a long batch age on the application's logger and the spans' one."""
    made = CollectorHandler(
        url=server.url, service="svc", spool_dir=str(tmp_path / "spool"), batch_age=BATCH_AGE, flush_timeout=2
    )
    loggers = [logging.getLogger("test.request_end"), logging.getLogger("c2cwsgiutils.spans")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(made)
        logger.setLevel(logging.INFO)
    spans.configure(events=True)
    yield made
    for logger, level in zip(loggers, levels, strict=True):
        logger.removeHandler(made)
        logger.setLevel(level)
    made.close()


def test_the_end_of_a_request_sends_its_records_at_once(
    server: CollectorServer, handler: CollectorHandler
) -> None:
    log = logging.getLogger("test.request_end")
    with spans.root_span("request"):
        log.info("inside the request")
        with spans.span(".render"):
            log.info("rendering")
    wait_for(lambda: len(server.records) == 4, timeout=10, message="the request's 4 records")
    assert server.messages()[-1].startswith("span request ok in")


def test_a_span_that_is_not_a_root_waits_for_the_batch(
    server: CollectorServer, handler: CollectorHandler
) -> None:
    log = logging.getLogger("test.request_end")
    with spans.span("job"):
        log.info("a step")
    assert handler.sender is not None
    assert handler.queued() == 2
    assert handler.sender.wake.is_set() is False
    with spans.root_span("request"):
        pass
    wait_for(lambda: len(server.records) == 3, timeout=10, message="every queued record")


def test_requests_ending_back_to_back_still_share_batches(
    server: CollectorServer, handler: CollectorHandler
) -> None:
    log = logging.getLogger("test.request_end")
    for index in range(300):
        with spans.root_span("request"):
            log.info("request %d", index)
    wait_for(lambda: len(server.records) == 600, timeout=20, message="every record")
    # One early POST per 20 ms at most: a few, not one per request.
    assert len(server.requests) <= 100
