"""Prometheus: in one process through WebTest, and under a real gunicorn with two workers."""

from __future__ import annotations

import os
import re
import signal
import sys
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import webtest

from c2cwsgiutils import stats
from tests.helpers import ROOT, free_port, start_process, stop_process, wait_for, wait_port

MakeApp = Callable[[dict[str, Any]], webtest.TestApp]


def test_route_timer_is_a_histogram_with_labels(make_app: MakeApp) -> None:
    app = make_app({"c2c.prometheus": "true"})
    app.get("/hello")
    body = app.get("/metrics").text
    assert 'route_seconds_count{method="GET",route="hello",status="200"} 1.0' in body
    assert 'render_seconds_count{method="GET",route="hello",status="200"} 1.0' in body


def test_metrics_path_is_configurable(make_app: MakeApp) -> None:
    app = make_app({"c2c.prometheus": "true", "c2c.prometheus_path": "/ops/prom"})
    app.get("/metrics", status=404)
    assert app.get("/ops/prom").content_type == "text/plain"


def test_counters_gauges_and_prefix(make_app: MakeApp) -> None:
    app = make_app({"c2c.prometheus": "true", "c2c.prometheus_prefix": "svc_"})
    stats.increment_counter(["emails", "sent"], 2, tags={"kind": "welcome"})
    stats.set_gauge(["queue", "length"], 7)
    body = app.get("/metrics").text
    assert 'svc_emails_sent_total{kind="welcome"} 2.0' in body
    assert "svc_queue_length 7.0" in body


def test_same_name_with_other_labels_is_dropped_not_raised(make_app: MakeApp) -> None:
    app = make_app({"c2c.prometheus": "true"})
    stats.increment_counter(["jobs"], tags={"a": "1"})
    stats.increment_counter(["jobs"], tags={"b": "1"})
    assert 'jobs_total{a="1"} 1.0' in app.get("/metrics").text


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode("utf-8")  # type: ignore[no-any-return]


def _by_pid(body: str) -> dict[str, float]:
    return {m[0]: float(m[1]) for m in re.findall(r'hello_by_pid_total\{pid="(\d+)"\} ([0-9.]+)', body)}


@pytest.mark.slow
def test_gunicorn_workers_share_metrics_and_dead_workers_are_cleaned(tmp_path: Path) -> None:
    port = free_port()
    multiproc = tmp_path / "prometheus"
    process = start_process(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers=2",
            f"--bind=127.0.0.1:{port}",
            f"--config={ROOT / 'tests/stats/gunicorn_prometheus.conf.py'}",
            f"--error-logfile={tmp_path / 'gunicorn.log'}",
            "tests.stats.prometheus_app:application",
        ],
        env={"C2C_PROMETHEUS_MULTIPROC_DIR": str(multiproc), "PROMETHEUS_MULTIPROC_DIR": ""},
    )
    try:
        wait_port(port, process=process)
        base = f"http://127.0.0.1:{port}"
        pids: set[int] = set()
        requests = 0
        with ThreadPoolExecutor(2) as pool:
            # Two concurrent requests on two sync workers: each worker serves one of them.
            while len(pids) < 2 and requests < 20:
                for answer in pool.map(lambda _: _get(base + "/hello"), range(2)):
                    pids.add(int(re.findall(r"\d+", answer)[0]))
                requests += 2
        assert len(pids) == 2

        body = _get(base + "/metrics")
        assert set(_by_pid(body)) == {str(pid) for pid in pids}
        assert sum(_by_pid(body).values()) == requests
        assert f'route_seconds_count{{method="GET",route="hello",status="200"}} {float(requests)}' in body

        dead = min(pids)
        assert list(multiproc.glob(f"gauge_livemostrecent_{dead}.db"))
        os.kill(dead, signal.SIGKILL)
        wait_for(
            lambda: not list(multiproc.glob(f"gauge_livemostrecent_{dead}.db")),
            15,
            "the dead worker's file removed",
        )
        body = _get(base + "/metrics")
        assert f'worker_up{{pid="{dead}"}}' not in body
        # The dead worker's counts stay: a total never goes down.
        assert _by_pid(body)[str(dead)] >= 1
    finally:
        stop_process(process)


def test_metrics_on_a_separate_port(make_app: MakeApp) -> None:
    from c2cwsgiutils.stats.prometheus import start_metrics_server

    app = make_app({"c2c.prometheus": "true", "c2c.prometheus_path": "-"})
    app.get("/metrics", status=404)
    app.get("/hello")
    port = free_port()
    server, thread = start_metrics_server(port, "127.0.0.1")
    try:
        body = _get(f"http://127.0.0.1:{port}/metrics")
        assert 'route_seconds_count{method="GET",route="hello",status="200"} 1.0' in body
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
