"""A request view opened right after the response is complete: a real collector and a real app
whose CollectorHandler would hold the records for a minute (its batch age) but sends them when the
request ends."""

from __future__ import annotations

import http.client
import sys
import time
from pathlib import Path

from tests.apps.collector_app import RECORDS
from tests.collector.serve import serve_collector
from tests.collector.traffic import get
from tests.helpers import child_env, free_port, start_process, stop_process, wait_for, wait_port


def _request(port: int, request_id: str) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", "/items/7", headers={"X-Request-ID": request_id})
        response = connection.getresponse()
        assert (response.status, response.read()) == (200, b"ok")
    finally:
        connection.close()


def test_the_request_view_is_complete_as_the_response_arrives_not_after_the_batch_age(
    tmp_path: Path,
) -> None:
    with serve_collector(tmp_path, "--workers", "1") as collector:
        port = free_port()
        env = child_env(
            {
                "C2C_COLLECTOR_URL": f"http://127.0.0.1:{collector}",
                "C2C_COLLECTOR_BATCH_AGE": "60",
                "C2C_COLLECTOR_SPOOL_DIR": str(tmp_path / "spool"),
            }
        )
        command = [sys.executable, "-m", "waitress", "--port", str(port), "tests.apps.collector_app:app"]
        app = start_process(command, env=env, log=tmp_path / "app.log")
        try:
            wait_port(port, timeout=30, process=app)
            for index in range(3):
                request_id = f"complete-{index}-{time.time_ns()}"
                _request(port, request_id)

                def complete(request_id: str = request_id) -> bool:
                    status, view = get(collector, f"/api/v1/request/{request_id}")
                    return status == 200 and view["count"] == RECORDS and view["complete"] is True

                # Far less than the batch age: only a request's end sends its records this soon.
                wait_for(complete, timeout=20, message=f"the complete view of {request_id}")
        finally:
            stop_process(app)
