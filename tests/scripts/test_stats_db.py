from __future__ import annotations

import subprocess
import sys
import threading
import urllib.request
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest
import sqlalchemy

from tests.helpers import child_env, free_port, wait_port


@pytest.fixture(scope="module")
def table(pg_url: str) -> Iterator[str]:
    """A table with 100 analyzed rows and an index, in its own schema."""
    schema = f"stats_{uuid.uuid4().hex[:8]}"
    engine = sqlalchemy.create_engine(pg_url)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
        conn.exec_driver_sql(f"CREATE TABLE {schema}.things (id int PRIMARY KEY, name text)")
        conn.exec_driver_sql(f"INSERT INTO {schema}.things SELECT i, 'n' || i FROM generate_series(1, 100) i")
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql(f"ANALYZE {schema}.things")
    yield schema
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
    engine.dispose()


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "c2cwsgiutils.scripts.stats_db", *args],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_prints_row_estimates_and_sizes_of_each_table(pg_url: str, table: str) -> None:
    result = run("--db", pg_url, "--schema", table)
    assert result.returncode == 0, result.stderr
    lines = dict(line.rsplit(" ", 1) for line in result.stdout.splitlines())
    tags = f"{{schema={table},table=things}}"
    assert lines[f"db.table.rows{tags}"] == "100"
    assert int(lines[f"db.table.size{tags}"]) > 0
    assert int(lines[f"db.table.index_size{tags}"]) > 0
    assert len(lines) == 3


def test_extra_queries_add_named_values(pg_url: str, table: str) -> None:
    result = run(
        "--db",
        pg_url,
        "--schema",
        table,
        "--extra",
        f"SELECT 'long_names', count(*) FROM {table}.things WHERE name LIKE 'n%'",
    )
    assert result.returncode == 0, result.stderr
    assert "db.extra.long_names 100" in result.stdout.splitlines()


def test_an_unreachable_database_is_one_line_and_exit_code_1() -> None:
    result = run("--db", "postgresql://nobody@127.0.0.1:1/none")
    assert result.returncode == 1
    assert result.stderr.startswith("c2cwsgiutils-stats-db: ")
    assert len(result.stderr.strip().splitlines()) == 1


def test_send_passes_gauges_to_the_metrics_module(pg_url: str, table: str) -> None:
    result = run("--db", pg_url, "--schema", table, "--send")
    assert result.returncode == 0, result.stderr
    assert "Sent 3 gauges" in result.stderr


# ---- 6.x's Prometheus output -------------------------------------------------------------------


class _Pushgateway(BaseHTTPRequestHandler):
    pushed: ClassVar[list[tuple[str, str]]] = []

    def do_PUT(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
        self.pushed.append((self.path, body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_6x_prometheus_url_pushes_6x_gauges(pg_url: str, table: str) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Pushgateway)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        extra = ("--extra-gauge", "SELECT 'toto', 42", "toto", "toto help")
        result = run(
            "--db", pg_url, "--schema", table, "--prometheus-url", url, "--prometheus-instance", "i1", *extra
        )
    finally:
        server.shutdown()
        server.server_close()
    assert result.returncode == 0, result.stderr
    [(path, body)] = _Pushgateway.pushed
    assert path == "/metrics/job/db_counts/instance/i1"
    assert f'c2cwsgiutils_database_table_count{{schema="{table}",table="things"}} 100.0' in body
    assert f'c2cwsgiutils_database_table_index_size{{fork="main",index="things_pkey",schema="{table}"' in body
    assert (
        f'c2cwsgiutils_database_table_index_usage{{action="scan",index="things_pkey",schema="{table}"' in body
    )
    assert 'c2cwsgiutils_database_toto{metric="toto"} 42.0' in body


def test_6x_prometheus_port_serves_one_scrape_then_exits(pg_url: str, table: str) -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "c2cwsgiutils.scripts.stats_db", "--db", pg_url, "--schema", table],
        env=child_env({"C2C_PROMETHEUS_PORT": str(port)}),
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_port(port, process=process)  # a bare connection first: not taken for the scrape
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            text = response.read().decode()
        assert f'c2cwsgiutils_database_table_size{{schema="{table}",table="things"}}' in text
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(5)
