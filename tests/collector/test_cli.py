"""``c2cwsgiutils-logs`` query, count, timeline, request, status and ingest against a real collector."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

from tests.collector.cli_process import SCRIPT, TOKEN, Collector, collector, logs
from tests.collector.records import wire
from tests.helpers import wait_for

__all__ = ["collector"]

LOGS = Path(__file__).parent / "logs"
WEB_SPAN = "00f067aa0ba902b7"  # the span in the traceparent of the slow statement's comment


def _web_records(request_id: str) -> list[dict[str, object]]:
    return [
        wire(
            "GET /hits",
            request_id=request_id,
            trace_id="4bf92f3577b34da6a3ce929d0e0e4736",
            span_id=WEB_SPAN,
            created=1795342501.0,
            service="demo-web",
        ),
        wire(
            "counted hits",
            request_id=request_id,
            trace_id="4bf92f3577b34da6a3ce929d0e0e4736",
            span_id=WEB_SPAN,
            created=1795342502.4,
            service="demo-web",
        ),
    ]


def test_slow_statement_from_jsonlog_is_joined_to_its_request(collector: Collector) -> None:
    collector.post(*_web_records("req-slow-1"))
    result = logs(collector, "ingest", str(LOGS / "postgresql.json"))
    assert result.returncode == 0, result.stderr
    status, view = collector.call("GET", "/api/v1/request/req-slow-1")
    assert status == 200
    sql = [r for r in view["records"] if r["name"] == "postgresql"]
    # the slow SELECT, then the failed INSERT of the same request
    assert [r["data"].get("duration_ms") for r in sql] == [1234.567, None]
    slow = sql[0]
    assert (slow["service"], slow["parent_span_id"], slow["kind"]) == ("postgresql", WEB_SPAN, "sql")
    web_span = next(span for span in view["spans"] if span["span_id"] == WEB_SPAN)
    assert slow["span_id"] in web_span["children"]


def test_request_command_prints_the_sql_span_under_the_web_span(collector: Collector) -> None:
    collector.post(*_web_records("req-tree-1"))
    line = (LOGS / "postgresql.json").read_text().splitlines()[2].replace("req-slow-1", "req-tree-1")
    assert (
        logs(collector, "ingest", "--format", "pg-jsonlog", "-", stdin=line.encode() + b"\n").returncode == 0
    )
    result = logs(collector, "request", "req-tree-1")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    web = next(i for i, text in enumerate(lines) if f"span {WEB_SPAN}" in text)
    sql = next(i for i, text in enumerate(lines) if "(1234.6 ms)" in text)
    assert sql > web
    assert len(lines[sql]) - len(lines[sql].lstrip()) > len(lines[web]) - len(lines[web].lstrip())
    assert "\033[" not in result.stdout  # not a terminal: no colours


def test_reingesting_a_file_stores_nothing_twice(collector: Collector, tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    shutil.copy(LOGS / "gunicorn.log", path)
    first = logs(collector, "ingest", "--service", "gunicorn-twice", str(path))
    second = logs(collector, "ingest", "--service", "gunicorn-twice", str(path))
    assert (first.returncode, second.returncode) == (0, 0)
    assert "stored 0, already there 2" in second.stderr
    assert collector.count("service=gunicorn-twice") == 2


def test_csvlog_rows_spanning_lines_are_ingested(collector: Collector) -> None:
    result = logs(collector, "ingest", str(LOGS / "postgresql.csv"))
    assert result.returncode == 0, result.stderr
    assert collector.count("request_id=req-csv-1 and data.duration_ms > 2000") == 1
    assert collector.count("request_id=req-csv-1") == 2


def test_nginx_access_log_is_detected_and_ingested(collector: Collector) -> None:
    result = logs(collector, "ingest", "--service", "edge", "--host", "lb-1", str(LOGS / "nginx.log"))
    assert result.returncode == 0, result.stderr
    assert collector.count("service=edge and host=lb-1 and name=nginx.access and data.status=404") == 1


def test_unknown_format_is_refused_with_a_hint(collector: Collector, tmp_path: Path) -> None:
    path = tmp_path / "syslog"
    path.write_text("Nov 22 10:15:00 host sshd[1]: Accepted publickey\n")
    result = logs(collector, "ingest", str(path))
    assert result.returncode == 2
    assert "use --format" in result.stderr


def test_follow_reads_across_a_rotation(collector: Collector, tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    lines = (LOGS / "gunicorn.log").read_text().splitlines(keepends=True)
    path.write_text(lines[0])
    process = subprocess.Popen(
        [SCRIPT, "ingest", "--follow", "--poll", "0.05", "--service", "follow-me", str(path)],
        env=collector.env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for(lambda: collector.count("service=follow-me") == 1)
        with path.open("a") as handle:
            handle.write(lines[1])
        wait_for(lambda: collector.count("service=follow-me") == 2)
        path.rename(tmp_path / "access.log.1")
        path.write_text(
            lines[0].replace("req-slow-1", "req-rotated") + lines[1].replace("req-err-2", "req-rot-2")
        )
        wait_for(lambda: collector.count("service=follow-me") == 4)
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=10)
    assert process.returncode == 0, stderr
    assert collector.count("service=follow-me and request_id=req-rotated") == 1


def test_follow_restarts_after_a_truncation(collector: Collector, tmp_path: Path) -> None:
    path = tmp_path / "nginx.log"
    lines = (LOGS / "nginx.log").read_text().splitlines(keepends=True)
    path.write_text(lines[0] + lines[1])
    process = subprocess.Popen(
        [SCRIPT, "ingest", "--follow", "--poll", "0.05", "--service", "truncated", str(path)],
        env=collector.env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: collector.count("service=truncated") == 2)
        path.write_text(lines[0].replace("req-slow-1", "req-after-truncate"))  # copytruncate
        wait_for(lambda: collector.count("service=truncated") == 3)
    finally:
        process.terminate()
        process.wait(10)


def test_relative_after_counts_only_recent_records(collector: Collector) -> None:
    now = time.time()
    collector.post(
        wire("old", service="relative", created=now - 7200), wire("new", service="relative", created=now - 10)
    )
    recent = logs(collector, "count", "--query", "service=relative", "--after", "1h")
    both = logs(collector, "count", "--query", "service=relative", "--after", "3h")
    assert (recent.stdout.strip(), both.stdout.strip()) == ("1", "2")


def test_query_json_prints_one_record_per_line_oldest_first(collector: Collector) -> None:
    collector.post(
        wire("first", service="queried", created=1795342600.0),
        wire("second", service="queried", created=1795342601.0, levelno=40, level_name="ERROR"),
    )
    result = logs(collector, "query", "--json", "--query", "service=queried")
    assert [json.loads(line)["message"] for line in result.stdout.splitlines()] == ["first", "second"]
    errors = logs(collector, "query", "--json", "--level", "ERROR", "--query", "service=queried")
    assert [json.loads(line)["message"] for line in errors.stdout.splitlines()] == ["second"]


def test_timeline_prints_a_count_per_period(collector: Collector) -> None:
    collector.post(
        *(wire("t", service="timeline", created=1795345200.0 + i * 60) for i in range(3)),
        wire("t", service="timeline", created=1795345200.0 + 3600),
    )
    result = logs(collector, "timeline", "--json", "--group", "hour", "--query", "service=timeline")
    periods = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(p["epoch"], p["count"]) for p in periods] == [(1795345200, 3), (1795348800, 1)]


def test_status_lists_the_last_record_of_each_service(collector: Collector) -> None:
    collector.post(wire("s", service="status-svc", host="status-host", created=1795342700.0))
    result = logs(collector, "status", "--json")
    status = json.loads(result.stdout)
    source = next(s for s in status["sources"] if s["service"] == "status-svc")
    assert (source["host"], source["last"]) == ("status-host", "2026-11-22T10:18:20.000000Z")
    assert status["storage"]["bytes"] > 0
    text = logs(collector, "status")
    assert "status-svc" in text.stdout


def test_url_and_token_may_come_before_the_sub_command(collector: Collector) -> None:
    environment = {
        k: v for k, v in collector.env().items() if k not in ("C2C_COLLECTOR_URL", "C2C_COLLECTOR_TOKEN")
    }
    result = subprocess.run(
        [SCRIPT, "--url", collector.url, "--token", TOKEN, "status"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("records:")
    assert "ago)" in result.stdout.splitlines()[2]


def test_a_bad_token_is_reported_without_a_traceback(collector: Collector) -> None:
    result = logs(collector, "count", "--token", "wrong")
    assert result.returncode == 1
    assert result.stderr.startswith("c2cwsgiutils-logs: the collector answered 401")


def test_progress_bar_is_drawn_when_stderr_is_a_terminal(collector: Collector) -> None:
    import os
    import pty

    master, slave = pty.openpty()
    try:
        process = subprocess.run(
            [SCRIPT, "ingest", "--service", "progress", str(LOGS / "postgresql.json")],
            env=collector.env(),
            stdout=subprocess.DEVNULL,
            stderr=slave,
            timeout=30,
            check=False,
        )
        os.close(slave)
        slave = -1
        output = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the terminal has no writer left
                break
            if not chunk:
                break
            output += chunk
    finally:
        if slave >= 0:
            os.close(slave)
        os.close(master)
    assert process.returncode == 0
    assert b"%" in output
    assert b"] " in output
    assert b"stored 6" in output


def test_follow_refuses_several_files(collector: Collector) -> None:
    result = logs(collector, "ingest", "--follow", str(LOGS / "gunicorn.log"), str(LOGS / "nginx.log"))
    assert result.returncode == 2
    assert "--follow reads one file" in result.stderr


def test_color_always_colours_the_level(collector: Collector) -> None:
    collector.post(wire("boom", service="coloured", levelno=40, level_name="ERROR"))
    result = logs(collector, "query", "--color", "always", "--query", "service=coloured")
    assert "\033[31mERROR" in result.stdout
