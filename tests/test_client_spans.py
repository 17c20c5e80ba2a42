"""Outgoing HTTP calls are client spans, and the callee's spans hang under them (two real services)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.helpers import free_port, start_process, stop_process, wait_port


def _events(log: Path) -> list[dict[str, Any]]:
    events = []
    for line in log.read_text().splitlines():
        if line.startswith("{"):
            events.append(json.loads(line))
    return events


def _wait_events(log: Path, predicate: Any, timeout: float = 10.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        events = _events(log)
        if predicate(events):
            return events
        time.sleep(0.05)
    raise AssertionError(f"the expected span events never came: {_events(log)}")


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, str, Path]]:
    directory = tmp_path_factory.mktemp("client_spans")
    processes = []
    urls_logs = []
    try:
        for name in ("caller", "callee"):
            port = free_port()
            log = directory / f"{name}.log"
            process = start_process(
                ["python", "-m", "waitress", "--port", str(port), "tests.apps.span_service:app"], log=log
            )
            processes.append(process)
            wait_port(port, process=process)
            urls_logs.append((f"http://127.0.0.1:{port}", log))
        yield urls_logs[0][0], urls_logs[0][1], urls_logs[1][0], urls_logs[1][1]
    finally:
        for process in processes:
            stop_process(process)


@pytest.mark.parametrize("client", ["requests", "urllib3", "httpx"])
def test_the_callee_request_span_hangs_under_the_caller_client_span(
    services: tuple[str, Path, str, Path], client: str
) -> None:
    caller, caller_log, callee, callee_log = services
    request_id = f"client-spans-{client}"
    target = f"{callee}/api/items/42?page=1&api_key=hunter2"
    response = requests.get(
        f"{caller}/call/{client}", params={"url": target}, headers={"X-Request-ID": request_id}, timeout=20
    )
    assert response.json() == {"status": 200}

    def mine(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [event for event in events if event.get("request_id") == request_id]

    caller_events = mine(_wait_events(caller_log, lambda events: len(mine(events)) >= 2))
    callee_events = mine(_wait_events(callee_log, lambda events: len(mine(events)) >= 1))
    by_name = {event["span_name"]: event for event in caller_events}
    client_span, caller_request = by_name["http client"], by_name["request"]
    assert [event["span_name"] for event in caller_events].count("http client") == 1
    assert client_span["span_kind"] == "client"
    assert client_span["method"] == "GET"
    assert client_span["url"] == f"{callee}/api/items/42?page=1&api_key=***"
    assert client_span["status_code"] == 200
    assert client_span["status"] == "ok"
    assert client_span["duration_ms"] > 0
    assert client_span["parent_span_id"] == caller_request["span_id"]
    (callee_request,) = callee_events
    assert callee_request["parent_span_id"] == client_span["span_id"]
    assert callee_request["trace_id"] == client_span["trace_id"] == caller_request["trace_id"]
    assert callee_request["span_kind"] == "server"
    assert callee_request["route_pattern"] == "/api/items/{id}"
    assert (callee_request["method"], callee_request["status_code"]) == ("GET", 200)
