"""A 6.x-style service (``app.py``) under gunicorn with a 6.x ``gunicorn.conf.py`` and ini: what
6.1.10's acceptance suite checks of its demo, through 6.x's ``Connection`` API.

Two private databases on the test server play master and slave (each says its name in its
``greeting`` row); Redis is the test server's, under a private prefix.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg2  # type: ignore[import-untyped]  # no stubs
import pytest
import sqlalchemy

from c2cwsgiutils.acceptance.connection import CacheExpected, Connection
from tests.conftest import REDIS_URL
from tests.helpers import ROOT, free_port, start_process, stop_process, wait_port

HERE = Path(__file__).parent
GUNICORN = Path(sys.executable).parent / "gunicorn"


def _create(admin_url: str, name: str, value: str) -> str:
    admin = psycopg2.connect(admin_url)
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    admin.close()
    url = sqlalchemy.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    connection = psycopg2.connect(url)
    with connection, connection.cursor() as cursor:
        cursor.execute("CREATE TABLE greeting (id SERIAL PRIMARY KEY, value TEXT NOT NULL UNIQUE)")
        cursor.execute("INSERT INTO greeting (value) VALUES (%s)", (value,))
    connection.close()
    return url


def _drop(admin_url: str, name: str) -> None:
    admin = psycopg2.connect(admin_url)
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


@pytest.fixture(scope="module")
def service(
    pg_admin_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    suffix = uuid.uuid4().hex[:8]
    names = {"master": f"c2c_compat6_master_{suffix}", "slave": f"c2c_compat6_slave_{suffix}"}
    urls = {role: _create(pg_admin_url, name, role) for role, name in names.items()}
    work = tmp_path_factory.mktemp("compat6")
    port, metrics_port = free_port(), free_port()
    log = work / "gunicorn.log"
    env = {
        "BIND": f"127.0.0.1:{port}",
        "SELF_URL": f"http://127.0.0.1:{port}",
        "C2CWSGIUTILS_CONFIG": str(HERE / "production.ini"),
        "SQLALCHEMY_URL": urls["master"],
        "SQLALCHEMY_SLAVE_URL": urls["slave"],
        "C2C_SECRET": "changeme",
        "C2C_LOG_VIEW_ENABLED": "1",
        "C2C_SQL_PROFILER_ENABLED": "1",
        "C2C_DEBUG_VIEW_ENABLED": "0",
        "C2C_ENABLE_EXCEPTION_HANDLING": "1",
        "C2C_REDIS_URL": redis_url,
        "C2C_BROADCAST_PREFIX": f"compat6_{suffix}:",
        "C2C_PROMETHEUS_PORT": str(metrics_port),
        "PROMETHEUS_MULTIPROC_DIR": "",
        "LOG_TYPE": "console",
        "OTHER_LOG_LEVEL": "INFO",
        "DEVELOPMENT": "0",
        "TEST": "%1",
    }
    server = start_process([str(GUNICORN), "-c", str(HERE / "gunicorn.conf.py")], env=env, log=log, cwd=ROOT)
    try:
        wait_port(port, timeout=60, process=server)
        yield {"url": f"http://127.0.0.1:{port}/api/", "metrics": metrics_port, "log": log, "db": urls}
    finally:
        stop_process(server)
        for name in names.values():
            _drop(pg_admin_url, name)


@pytest.fixture
def app(service: dict[str, Any]) -> Iterator[Connection]:
    with Connection(service["url"], origin="http://example.com") as connection:
        yield connection


def test_services_answer_uncached_with_cors(app: Connection) -> None:
    assert app.get_json("ping", cache_expected=CacheExpected.NO) == {"pong": True}


def test_get_reads_the_slave_put_the_master_and_forced_post_the_slave(app: Connection) -> None:
    assert app.get_json("greeting") == {"value": "slave"}
    assert app.put_json("greeting") == {"value": "master"}
    assert app.post_json("greeting") == {"value": "slave"}


def test_broadcast_answers_the_6x_list(app: Connection) -> None:
    assert app.get_json("broadcast", cors=False) == [42]


def test_health_check_names_and_answers_as_6x(app: Connection) -> None:
    report = app.get_json("c2c/health_check", params={"max_level": "2"}, expected_status=500, cors=False)
    assert set(report["successes"]) == {
        "db_engine_sqlalchemy",
        "db_engine_sqlalchemy_slave",
        f"{app.base_url[:-5]}/api/ping",
        "fun_url",
        REDIS_URL,  # added by HealthCheck(config) with Redis configured, as in 6.x
    }
    assert all("timing" in entry for entry in report["successes"].values())
    assert report["failures"]["fail_json"]["result"] == {"some": "json"}
    assert "stacktrace" not in report["failures"]["fail"]


def test_integrity_and_data_errors_are_400(app: Connection) -> None:
    duplicate = app.get_json("error", params={"kind": "dup"}, expected_status=400)
    assert "duplicate key" in duplicate["message"]
    data = app.get_json("error", params={"kind": "data"}, expected_status=400)
    assert "invalid input syntax for type integer" in data["message"]


def test_errors_carry_cors_and_no_cache(app: Connection) -> None:
    app.get_json("nowhere", expected_status=404, cache_expected=CacheExpected.NO)
    assert app.get_json("error", params={"kind": "forbidden"}, expected_status=403)["message"] == "no way"


def test_switched_off_views_answer_404(app: Connection) -> None:
    app.get_json("c2c/debug/stacks", params={"secret": "changeme"}, expected_status=404, cors=False)
    assert app.get_json("c2c/logging/level", params={"secret": "changeme"}, cors=False) is not None


def test_the_index_keeps_the_route_prefix(app: Connection) -> None:
    page = app.get("c2c", cors=False)  # without the slash too, as 6.x
    assert page is not None
    assert 'action="/api/c2c/logging/level"' in page


def test_client_info_filter_applies_forwarded_headers(app: Connection) -> None:
    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "192.0.2.7", "X-Forwarded-Host": "x.example"}
    assert app.get_json("echo", headers=headers, cors=False) == {
        "scheme": "https",
        "remote_addr": "192.0.2.7",
        "host": "x.example",
    }


def test_logs_use_the_6x_template_on_stdout(service: dict[str, Any], app: Connection) -> None:
    app.get_json("error", params={"kind": "boom"}, expected_status=500, cors=False)
    text = service["log"].read_text()
    assert "ERROR c2cwsgiutils.errors GET /api/error failed" in text
    assert "Logging error" not in text


def test_metrics_served_by_the_master_on_the_6x_port(service: dict[str, Any]) -> None:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{service['metrics']}/metrics", timeout=10) as response:
        assert response.status == 200


def test_a_write_is_committed_on_the_master_and_a_failed_one_rolled_back(
    service: dict[str, Any], app: Connection
) -> None:
    assert app.patch_json("greeting", params={"value": "written"}) == {"added": "written"}
    app.get_json("error", params={"kind": "dup"}, expected_status=400)
    rows = {}
    for role, url in service["db"].items():
        engine = sqlalchemy.create_engine(url)
        with engine.connect() as connection:
            rows[role] = (
                connection.execute(sqlalchemy.text("SELECT value FROM greeting ORDER BY id")).scalars().all()
            )
        engine.dispose()
    assert rows == {"master": ["master", "written"], "slave": ["slave"]}
