"""A relay whose upstream answers 503 + Retry-After (its storage down) waits as asked and loses nothing."""

from __future__ import annotations

import http.client
import json
import re
import time
import urllib.parse
import uuid
from pathlib import Path

from tests.collector.records import ndjson, wire
from tests.collector.serve import serve_collector
from tests.collector.tcp_proxy import TcpProxy
from tests.helpers import free_port, start_process, stop_process, wait_port

UPSTREAM_TOKENS = "relay:writer+reader:up"


def _post(port: int, body: bytes) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("POST", "/api/v1/record", body, {"Content-Type": "application/x-ndjson"})
    response = connection.getresponse()
    response.read()
    connection.close()
    return response.status


def _stored(port: int, tag: str) -> list[str]:
    """The ``uuid`` column of every upstream record whose message starts with ``tag``."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    query = f'message : "{tag}"'
    connection.request(
        "GET",
        "/api/v1/record?" + urllib.parse.urlencode({"query": query, "left": 0, "right": 999}),
        headers={"Authorization": "Bearer up"},
    )
    response = connection.getresponse()
    records = json.loads(response.read())
    connection.close()
    return [record["uuid"] for record in records]


def test_relay_waits_for_retry_after_and_forwards_everything_once(
    tmp_path: Path, pg_proxy: tuple[TcpProxy, str]
) -> None:
    proxy, db_url = pg_proxy
    tag = f"relayed-{uuid.uuid4().hex[:8]}"
    upstream_dir = tmp_path / "upstream"
    upstream_dir.mkdir()
    env = {"C2C_COLLECTOR_TOKENS": UPSTREAM_TOKENS}
    with serve_collector(upstream_dir, "--workers", "1", "--db-url", db_url, env=env) as upstream:
        relay_port = free_port()
        relay = start_process(
            [
                *("python", "-m", "c2cwsgiutils.collector.cli", "serve", "--port", str(relay_port)),
                *("--workers", "1", "--forward", f"http://127.0.0.1:{upstream}"),
            ],
            env={
                "C2C_COLLECTOR_FORWARD_TOKEN": "up",
                "C2C_COLLECTOR_FORWARD_SPOOL_DIR": str(tmp_path / "spool"),
                "C2C_COLLECTOR_FORWARD_BATCH_AGE": "0.05",
            },
            log=tmp_path / "relay.log",
        )
        try:
            wait_port(relay_port, timeout=60, process=relay)
            assert _post(relay_port, ndjson(*(wire(f"{tag} before {n}") for n in range(50)))) == 201
            proxy.stop()  # the upstream's database goes away: it answers 503 + Retry-After: 5
            for batch in range(4):
                body = ndjson(*(wire(f"{tag} during {batch}.{n}") for n in range(50)))
                assert _post(relay_port, body) == 201  # the relay spools them
            relay_log = tmp_path / "relay.log"
            deadline = time.monotonic() + 30
            while "as it asks (Retry-After)" not in relay_log.read_text() and time.monotonic() < deadline:
                time.sleep(0.2)
            time.sleep(6)  # more than one Retry-After of outage
            proxy.start()
            deadline = time.monotonic() + 60
            stored = _stored(upstream, tag)
            while len(stored) < 250 and time.monotonic() < deadline:
                time.sleep(0.5)
                stored = _stored(upstream, tag)
            time.sleep(1.0)  # anything forwarded twice would show up now
            stored = _stored(upstream, tag)
        finally:
            stop_process(relay)
    assert (len(stored), len(set(stored))) == (250, 250)
    assert "as it asks (Retry-After)" in (tmp_path / "relay.log").read_text()
    upstream_log = (upstream_dir / "server.log").read_text()
    refused = re.search(r"Collector storage available again after ([\d.]+) s \((\d+) requests", upstream_log)
    assert refused is not None, upstream_log[-3000:]
    outage_seconds, requests_refused = float(refused.group(1)), int(refused.group(2))
    # Waiting 5 s (Retry-After) between attempts, not the 0.5 s ... back-off of an unreachable one.
    assert requests_refused <= outage_seconds / 5 + 3, (outage_seconds, requests_refused)
