"""A Node.js service instrumented with OpenTelemetry only, exporting to the collector's OTLP intake.

The service (``node_otel/service.js``) uses the OpenTelemetry JS SDK and its OTLP/HTTP trace
exporter from the npm registry (``node_otel/package.json``, installed once into a cache folder).
Skipped when ``node`` or ``npm`` is missing, or when the npm registry cannot be reached.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.collector.cli_process import TOKEN, Collector, collector
from tests.helpers import free_port, start_process, stop_process, wait_for, wait_port

__all__ = ["collector"]

NODE, NPM = shutil.which("node"), shutil.which("npm")
SOURCE = Path(__file__).parent / "node_otel"

pytestmark = pytest.mark.skipif(
    NODE is None or NPM is None, reason="node and npm are needed to run a Node.js OpenTelemetry service"
)


@pytest.fixture(scope="session")
def node_modules() -> Path:
    """The ``node_modules`` folder of ``node_otel/package.json``, installed once per version of it."""
    assert NPM is not None
    digest = hashlib.sha256((SOURCE / "package.json").read_bytes()).hexdigest()[:12]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "c2cwsgiutils-tests"
    target = cache / f"node-otel-{digest}"
    if not (target / "node_modules").is_dir():
        building = cache / f"node-otel-{digest}.{os.getpid()}"
        shutil.rmtree(building, ignore_errors=True)
        building.mkdir(parents=True)
        shutil.copy(SOURCE / "package.json", building)
        try:
            result = subprocess.run(
                [NPM, "install", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=building,
                capture_output=True,
                timeout=300,
                check=False,
            )
        except subprocess.TimeoutExpired:
            pytest.skip("npm install took more than 300 s (no access to the npm registry?)")
        if result.returncode != 0:
            message = result.stderr.decode(errors="replace")[-300:]
            pytest.skip(f"npm install failed (no access to the npm registry?): {message}")
        try:
            building.rename(target)
        except OSError:  # another session installed it meanwhile
            shutil.rmtree(building, ignore_errors=True)
    return target / "node_modules"


def _get(port: int, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_a_nodejs_service_shows_in_the_callers_request_view(
    collector: Collector, node_modules: Path, tmp_path: Path
) -> None:
    assert NODE is not None
    port = free_port()
    env = {
        "NODE_PATH": str(node_modules),
        "PORT": str(port),
        "OTLP_TRACES_URL": f"{collector.url}/v1/traces",
        "OTLP_AUTHORIZATION": f"Bearer {TOKEN}",
    }
    service = start_process([NODE, str(SOURCE / "service.js")], env=env, log=tmp_path / "node.log")
    try:
        wait_port(port, timeout=30, process=service)
        # Our side of the call: a record of the caller's span (what the demo's client span logs).
        request_id = f"node-{uuid.uuid4().hex[:8]}"
        trace_id, caller_span = uuid.uuid4().hex, uuid.uuid4().hex[:16]
        collector.post(
            {
                "c2c_uuid": uuid.uuid4().hex,
                "msg": "calling the prices service",
                "logger_name": "demo",
                "created": time.time(),
                "request_id": request_id,
                "trace_id": trace_id,
                "span_id": caller_span,
            }
        )
        headers = {"traceparent": f"00-{trace_id}-{caller_span}-01", "X-Request-ID": request_id}
        assert _get(port, "/prices/7", headers) == (200, b'{"price":42}')

        view: dict[str, Any] = {}

        def complete() -> bool:
            nonlocal view
            status, view = collector.call("GET", f"/api/v1/request/{request_id}")
            return status == 200 and view["count"] == 3

        wait_for(complete, 30, "the Node.js service's two spans in the request view")
    finally:
        stop_process(service)
    caller, *callee = view["records"]
    assert caller["message"] == "calling the prices service"
    spans = {record["data"]["span_name"]: record for record in callee}
    server, lookup = spans["GET /prices/{id}"], spans["price lookup"]
    assert (server["service"], server["host"], server["name"]) == (
        "node-prices",
        "node-host",
        "node-prices.http",
    )
    assert (server["parent_span_id"], lookup["parent_span_id"]) == (caller_span, server["span_id"])
    assert (server["data"]["span_kind"], server["data"]["route"], server["data"]["status_code"]) == (
        "server",
        "/prices/{id}",
        200,
    )
    assert server["request_id"] == request_id  # the X-Request-ID header the service recorded
    assert server["data"]["duration_ms"] >= lookup["data"]["duration_ms"] > 0
    tree = {span["span_id"]: span for span in view["spans"]}
    assert tree[caller_span]["children"] == [server["span_id"]]
    assert tree[server["span_id"]]["children"] == [lookup["span_id"]]
