"""The older README's ini snippets and command lines (see ``test_old_readme.py``), run as written:
``c2cwsgiutils_run`` serves an application whose ini has the README's DB section and the logging
sections of the demo it points to (``args = (sys.stdout,)``, the CEE handler to a UDP address),
found through ``C2CWSGIUTILS_CONFIG`` with ``%(ENV_NAME)s`` interpolation; then
``c2cwsgiutils_reload``, ``c2cwsgiutils_genversion.py`` and ``c2cwsgiutils_stats_db.py``.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.compat6.test_old_readme import _create_db, _drop_db
from tests.debug.server import children_of
from tests.helpers import free_port, start_process, stop_process, wait_for, wait_port

BIN = Path(sys.executable).parent

# README "DB sessions"
DB_INI = """
sqlalchemy.url = %(SQLALCHEMY_URL)s
sqlalchemy.pool_recycle = 30
sqlalchemy.pool_size = 5
sqlalchemy.max_overflow = 25

sqlalchemy_slave.url = %(SQLALCHEMY_URL_SLAVE)s
sqlalchemy_slave.pool_recycle = 30
sqlalchemy_slave.pool_size = 5
sqlalchemy_slave.max_overflow = 25
"""

# README "Logging": the logging part of the demo's production.ini it points to (0.2x)
LOGGING_INI = """
[loggers]
keys = root, sqlalchemy

[handlers]
keys = console, logstash, json

[formatters]
keys = generic

[logger_root]
level = %(OTHER_LOG_LEVEL)s
handlers = %(LOG_TYPE)s

[logger_sqlalchemy]
level = %(SQL_LOG_LEVEL)s
handlers =
qualname = sqlalchemy.engine

[handler_console]
class = StreamHandler
args = (sys.stdout,)
level = NOTSET
formatter = generic

[formatter_generic]
format = %(levelname)-5.5s %(name)s %(message)s

[handler_logstash]
class = c2cwsgiutils.pyramid_logging.PyramidCeeSysLogHandler
args = [("%(LOG_HOST)s", %(LOG_PORT)s)]
level = NOTSET

[handler_json]
class = c2cwsgiutils.pyramid_logging.JsonLogHandler
args = (sys.stdout,)
level = NOTSET
"""

APP = """
import logging
from pyramid.config import Configurator
import c2cwsgiutils.pyramid
from c2cwsgiutils.db import setup_session
import sqlalchemy as sa

def init(config):
    global DBSession
    DBSession = setup_session(config, 'sqlalchemy', 'sqlalchemy_slave', force_slave=[
        "POST /api/hello"
    ])[0]

def hello(request):
    value = DBSession.execute(sa.text("SELECT value FROM hello")).scalar()
    logging.getLogger("old_readme_app").info("hello from %s", value)
    return {"value": value}

def main(_, **settings):
    config = Configurator(settings=settings, route_prefix="/api")
    config.include(c2cwsgiutils.pyramid.includeme)
    init(config)
    config.add_route("hello", "/hello")
    config.add_view(hello, route_name="hello", renderer="json")
    return config.make_wsgi_app()
"""


@pytest.fixture(scope="module")
def served(pg_admin_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    suffix = uuid.uuid4().hex[:8]
    names = {"master": f"c2c_readme_run_m_{suffix}", "slave": f"c2c_readme_run_s_{suffix}"}
    urls = {role: _create_db(pg_admin_url, name, role) for role, name in names.items()}
    work = tmp_path_factory.mktemp("old_readme_run")
    (work / "old_readme_app.py").write_text(APP)
    ini = work / "production.ini"
    app_section = "[app:main]\nuse = call:old_readme_app:main\nc2c.base_path = /ini_c2c\n"
    ini.write_text(app_section + DB_INI + LOGGING_INI)
    syslog = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    syslog.bind(("127.0.0.1", 0))
    syslog.settimeout(10)
    port, log = free_port(), work / "run.log"
    env = {
        "C2CWSGIUTILS_CONFIG": str(ini),
        "SQLALCHEMY_URL": urls["master"],
        "SQLALCHEMY_URL_SLAVE": urls["slave"],
        "OTHER_LOG_LEVEL": "INFO",
        "SQL_LOG_LEVEL": "WARN",
        "LOG_TYPE": "json, logstash",
        "LOG_HOST": "127.0.0.1",
        "LOG_PORT": str(syslog.getsockname()[1]),
        "PYTHONPATH": str(work),
    }
    server = start_process(
        [str(BIN / "c2cwsgiutils_run"), "--bind", f"127.0.0.1:{port}", "--workers", "1"],
        env=env,
        log=log,
        cwd=work,
    )
    try:
        wait_port(port, timeout=60, process=server)
        yield {"url": f"http://127.0.0.1:{port}", "log": log, "syslog": syslog, "master": server.pid}
    finally:
        stop_process(server)
        syslog.close()
        for name in names.values():
            _drop_db(pg_admin_url, name)


def test_run_serves_the_ini_with_env_interpolation_and_the_slave_for_get(served: dict[str, Any]) -> None:
    headers = {"X-Request-ID": "readme-run-1"}
    response = requests.get(served["url"] + "/api/hello", headers=headers, timeout=30)
    assert response.json() == {"value": "slave"}


def test_base_path_from_the_ini(served: dict[str, Any]) -> None:
    assert requests.get(served["url"] + "/api/ini_c2c/", timeout=30).status_code == 200


def test_json_logs_on_stdout_with_the_request_id(served: dict[str, Any]) -> None:
    requests.get(served["url"] + "/api/hello", headers={"X-Request-ID": "readme-run-2"}, timeout=30)

    def logged() -> list[dict[str, Any]]:
        lines = [line for line in served["log"].read_text().splitlines() if line.startswith("{")]
        return [r for r in map(json.loads, lines) if r.get("request_id") == "readme-run-2"]

    wait_for(logged, message="a JSON log line with the request id")
    assert "hello from slave" in [record.get("msg") or record.get("message") for record in logged()]
    assert "Logging error" not in served["log"].read_text()


def test_cee_logs_to_syslog_over_udp(served: dict[str, Any]) -> None:
    requests.get(served["url"] + "/api/hello", headers={"X-Request-ID": "readme-run-3"}, timeout=30)
    for _ in range(100):
        data = served["syslog"].recv(65536).decode()
        if "readme-run-3" in data and "hello from slave" in data:
            assert "@cee:" in data
            return
    raise AssertionError("no CEE record of the request")


def test_reload(served: dict[str, Any]) -> None:
    before = children_of(served["master"])
    result = subprocess.run(
        [str(BIN / "c2cwsgiutils_reload"), "--pid", str(served["master"]), "--wait", "60"],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert not before & children_of(served["master"])
    wait_for(lambda: requests.get(served["url"] + "/api/hello", timeout=30).ok, message="served after reload")
