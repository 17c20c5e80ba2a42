"""Delay from a response to its complete request view in the collector, before and after #21.

A real collector (``c2cwsgiutils-logs serve``, SQLite) and two processes of the same real Pyramid
application under waitress, each logging through a ``CollectorHandler`` with its default batch age
(1 s): "before" with the hook that sends a request's records when its root span ends removed
(``_spans_core.ROOT_END_HOOKS`` cleared: the records wait for the batch age, as before), "after"
as shipped. Each request of the view logs 3 lines and opens a span: 5 records with the two span
events. The client reads the response, then polls ``/api/v1/request/{id}`` every 3 ms until it
holds the 5 records and says ``complete: true``; the delay is that time. Requests are isolated
(50 to 150 ms apart, as a user clicks), alternating between the two processes.

Usage: python bench/bench_request_complete.py [--requests N]
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.collector.serve import serve_collector  # noqa: E402
from tests.helpers import free_port, start_process, stop_process, wait_port  # noqa: E402

RECORDS = 5
APP = """
import logging, sys
from pyramid.config import Configurator
from pyramid.response import Response
from waitress import serve
from c2cwsgiutils import _spans_core, spans
from c2cwsgiutils.logging.collector_handler import CollectorHandler

port, mode, url, spool = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
handler = CollectorHandler(url=url, service="bench-" + mode, spool_dir=spool)
logging.getLogger().addHandler(handler)
logging.getLogger().setLevel(logging.INFO)
logging.getLogger("waitress").setLevel(logging.WARNING)
if mode == "before":
    _spans_core.ROOT_END_HOOKS.clear()

def item(request):
    log = logging.getLogger("bench.views")
    log.info("item %s", request.matchdict["id"])
    with spans.span(".load"):
        log.info("loading")
    log.info("done")
    return Response("ok")

with Configurator() as config:
    config.include("c2cwsgiutils.request_tracking")
    config.include("c2cwsgiutils.spans")
    config.add_route("item", "/items/{id}")
    config.add_view(item, route_name="item")
    app = config.make_wsgi_app()
serve(app, host="127.0.0.1", port=port, threads=2, _quiet=True)
"""


def _get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _delay(app_port: int, collector_port: int, request_id: str, limit: float = 10.0) -> float:
    """Seconds from the response of one request to its complete view in the collector."""
    status, _ = _get(app_port, "/items/7", {"X-Request-ID": request_id})
    assert status == 200, status
    answered = time.perf_counter()
    while time.perf_counter() - answered < limit:
        status, body = _get(collector_port, f"/api/v1/request/{request_id}")
        view: dict[str, Any] = json.loads(body)
        if status == 200 and view["count"] >= RECORDS and view.get("complete") is True:
            return time.perf_counter() - answered
        time.sleep(0.003)
    raise AssertionError(f"{request_id} not complete within {limit} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=40, help="requests per variant (default 40)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, serve_collector(Path(tmp), "--workers", "1") as collector:
        apps = {}
        processes = []
        try:
            for mode in ("before", "after"):
                port = free_port()
                argv = [sys.executable, "-c", APP, str(port), mode, f"http://127.0.0.1:{collector}"]
                argv.append(str(Path(tmp) / f"spool-{mode}"))
                processes.append(start_process(argv, log=Path(tmp) / f"{mode}.log"))
                wait_port(port, timeout=30, process=processes[-1])
                apps[mode] = port
                _delay(port, collector, f"warm-{mode}")
            delays: dict[str, list[float]] = {mode: [] for mode in apps}
            rng = random.Random(21)
            for index in range(args.requests):
                for mode, port in apps.items():
                    delays[mode].append(_delay(port, collector, f"{mode}-{index}"))
                    time.sleep(rng.uniform(0.05, 0.15))
        finally:
            for process in processes:
                stop_process(process)
    print(f"response -> complete request view ({RECORDS} records), {args.requests} requests each, ms")
    print(f"{'variant':<8} {'median':>8} {'p90':>8} {'max':>8}")
    for mode, seconds in delays.items():
        values = sorted(value * 1000 for value in seconds)
        p90 = values[int(len(values) * 0.9) - 1]
        print(f"{mode:<8} {statistics.median(values):8.1f} {p90:8.1f} {values[-1]:8.1f}")


if __name__ == "__main__":
    main()
