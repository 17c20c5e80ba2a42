"""``c2cwsgiutils-logs tail`` on the demo's collector shows the demo's requests while they happen."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import requests

from acceptance_tests.tests.conftest import Product

SCRIPT = str(Path(sys.executable).parent / "c2cwsgiutils-logs")


def send_until(product: Product, prefix: str, stop: threading.Event, sent: list[str]) -> None:
    """Call ``/api/hello`` every 0.1 s with request IDs ``{prefix}-{n}`` until ``stop``."""
    with requests.Session() as session:
        while not stop.is_set() and len(sent) < 300:
            request_id = f"{prefix}-{len(sent)}"
            session.get(product.base_url + "api/hello", headers={"X-Request-ID": request_id}, timeout=10)
            sent.append(request_id)
            stop.wait(0.1)


def test_tail_prints_the_records_of_requests_sent_while_it_runs(product: Product) -> None:
    prefix = f"tail-{uuid.uuid4().hex[:12]}"
    query = f'request_id : "{prefix}-" AND name = c2cwsgiutils.spans'
    tail = subprocess.Popen(
        [
            SCRIPT,
            "tail",
            "--url",
            product.collector_url,
            "--json",
            "--max",
            "3",
            "--timeout",
            "30",
            "-q",
            query,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    stop, sent = threading.Event(), list[str]()
    # The traffic starts with the tail (not after it is connected): the records of the first
    # requests may come before it listens, tail prints those that come after.
    traffic = threading.Thread(target=send_until, args=(product, prefix, stop, sent), daemon=True)
    traffic.start()
    try:
        stdout, stderr = tail.communicate(timeout=40)
    finally:
        stop.set()
        traffic.join(15)
    assert tail.returncode == 0, stderr
    records = [json.loads(line) for line in stdout.splitlines()]
    assert len(records) == 3
    assert {record["request_id"] for record in records} <= set(sent)
    assert len({record["request_id"] for record in records}) == 3
    assert {(record["service"], record["name"]) for record in records} == {("demo-web", "c2cwsgiutils.spans")}
