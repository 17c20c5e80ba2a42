"""``c2cwsgiutils_run``: the real console script of the venv, serving through real gunicorn."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import ROOT, child_env, free_port, stop_process, wait_port

RUN = Path(sys.executable).parent / "c2cwsgiutils_run"
DEMO_INI = ROOT / "acceptance_tests" / "app" / "production.ini"
GREETING = "100% pure, %(HOME)s and %%"

SAMPLE_INI = """\
[app:main]
use = call:tests.scripts.sample_app:main

[loggers]
keys = root

[handlers]
keys = console

[formatters]
keys = sample

[logger_root]
level = INFO
handlers = console

[handler_console]
class = StreamHandler
args = (sys.stderr,)
formatter = sample

[formatter_sample]
format = SAMPLE-FORMAT %(levelname)s [%(name)s] %(message)s
"""


@dataclass
class Server:
    port: int
    log: Path

    def get(self, path: str, data: bytes | None = None) -> tuple[int, Any]:
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())


def _serve(ini: Path, log: Path, env: Mapping[str, str], cwd: Path = ROOT) -> Iterator[Server]:
    port = free_port()
    args = [
        str(RUN),
        "--paste",
        str(ini),
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "1",
        "--no-control-socket",
    ]
    with log.open("wb") as output:
        process = subprocess.Popen(
            args,
            env=child_env(env),
            stdout=output,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            start_new_session=True,
        )
        try:
            wait_port(port, timeout=60, process=process)
            yield Server(port, log)
        finally:
            stop_process(process)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("run_demo")
    env = {"SQLALCHEMY_URL": f"sqlite:///{tmp}/demo.sqlite", "DEMO_GREETING": GREETING}
    yield from _serve(DEMO_INI, tmp / "server.log", env)


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("run_sample")
    ini = tmp / "sample.ini"
    ini.write_text(SAMPLE_INI)
    yield from _serve(ini, tmp / "server.log", {})


def _run(args: list[str], env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = child_env()
    environment.pop("C2CWSGIUTILS_CONFIG", None)
    environment.update(env or {})
    return subprocess.run(
        [str(RUN), *args], check=False, env=environment, capture_output=True, text=True, timeout=120, cwd=ROOT
    )


def test_serves_the_demo_hello_as_json(demo: Server) -> None:
    status, body = demo.get("/api/hello")
    assert status == 200
    assert "message" in body


def test_env_value_with_percent_is_interpolated_verbatim(demo: Server) -> None:
    assert demo.get("/api/hello")[1]["message"] == GREETING


def test_unknown_path_is_a_json_404(demo: Server) -> None:
    status, body = demo.get("/no/such/path")
    assert status == 404
    assert body["status"] == 404


def test_missing_ini_is_a_one_line_error(tmp_path: Path) -> None:
    result = _run(["--paste", str(tmp_path / "missing.ini"), "--bind", f"127.0.0.1:{free_port()}"])
    assert result.returncode == 1
    assert [
        f"c2cwsgiutils_run: ini file {tmp_path}/missing.ini not found (give another one with --paste FILE "
        "or the C2CWSGIUTILS_CONFIG environment variable)"
    ] == result.stderr.splitlines()


def test_default_ini_comes_from_the_environment_variable(tmp_path: Path) -> None:
    result = _run([], env={"C2CWSGIUTILS_CONFIG": str(tmp_path / "from-env.ini")})
    assert result.returncode == 1
    assert f"{tmp_path}/from-env.ini not found" in result.stderr


def test_broken_ini_is_a_one_line_error(tmp_path: Path) -> None:
    ini = tmp_path / "broken.ini"
    ini.write_text("[app:main\nuse = egg:c2cwsgiutils_demo\n")
    result = _run(["--paste", str(ini)])
    assert result.returncode == 1
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith(f"c2cwsgiutils_run: broken ini file {ini}")


def test_undefined_variable_in_ini_is_a_one_line_error(tmp_path: Path) -> None:
    ini = tmp_path / "undefined.ini"
    ini.write_text("[app:main]\nuse = egg:c2cwsgiutils_demo\nsqlalchemy.url = %(C2C_TEST_UNDEFINED_VAR)s\n")
    result = _run(["--paste", str(ini)])
    assert result.returncode == 1
    assert len(result.stderr.splitlines()) == 1
    assert "C2C_TEST_UNDEFINED_VAR" in result.stderr


def test_invalid_boolean_setting_is_a_one_line_error_with_exit_code_2() -> None:
    result = _run(
        ["--paste", str(DEMO_INI), "--bind", f"127.0.0.1:{free_port()}"], env={"C2C_DEVELOPMENT": "maybe"}
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "c2cwsgiutils_run: C2C_DEVELOPMENT (ini: c2c.development) must be one of "
        "true/false/yes/no/on/off/1/0 (got 'maybe')"
    ]


def test_positional_argument_is_refused() -> None:
    result = _run(["--paste", str(DEMO_INI), "myapp:app"])
    assert result.returncode != 0
    assert "unexpected argument(s) myapp:app" in result.stderr


def test_exception_is_logged_once_in_the_ini_log_format(sample: Server) -> None:
    status, body = sample.get("/boom")
    assert (status, body["status"]) == (500, 500)
    log = sample.log.read_text()
    assert log.count("SAMPLE-FORMAT ERROR [c2cwsgiutils.errors] GET /boom failed") == 1
    assert "RuntimeError: sample failure" in log


def test_client_disconnect_through_gunicorn_is_not_an_error(sample: Server) -> None:
    with socket.create_connection(("127.0.0.1", sample.port), timeout=10) as sock:
        sock.sendall(b'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n{"partial":')
        sock.shutdown(socket.SHUT_WR)
        sock.recv(65536)
    assert sample.get("/echo", data=b"abc") == (200, {"length": 3})  # the worker is still fine
    log = sample.log.read_text()
    assert "client disconnected" in log
    assert "ERROR [c2cwsgiutils.errors] POST /echo" not in log


def test_help_needs_no_ini_file() -> None:
    result = _run(["--help"])
    assert result.returncode == 0
    assert "[--paste FILE] [gunicorn options]" in result.stdout
    assert "--bind ADDRESS" in result.stdout


def test_gunicorn_messages_go_through_the_ini_handlers(sample: Server) -> None:
    assert "SAMPLE-FORMAT INFO [gunicorn.error] Booting worker" in sample.log.read_text()


def test_sqlalchemy_url_from_the_environment_reaches_the_demo(demo: Server) -> None:
    status, body = demo.get("/api/sleep-in-web?seconds=0")
    assert (status, body["database"]) == (200, "sqlite")
    assert (demo.log.parent / "demo.sqlite").is_file()


def test_invalid_setting_in_the_ini_is_a_one_line_error(tmp_path: Path) -> None:
    ini = tmp_path / "invalid.ini"
    ini.write_text("[app:main]\nuse = egg:c2cwsgiutils_demo\nc2c.base_path = no-slash\n")
    result = _run(["--paste", str(ini)])
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "c2cwsgiutils_run: C2C_BASE_PATH (ini: c2c.base_path) must be an absolute URL path such as /c2c "
        "(got 'no-slash')"
    ]


def test_an_application_module_in_the_current_directory_is_found(tmp_path: Path) -> None:
    # As gunicorn's workers find it (its --chdir, the current directory, is first on sys.path).
    (tmp_path / "hello_here.py").write_text(
        "def main(global_config, **settings):\n"
        "    def app(environ, start_response):\n"
        "        start_response('200 OK', [('Content-Type', 'application/json')])\n"
        '        return [b\'{"hello": "here"}\']\n'
        "    return app\n"
    )
    ini = tmp_path / "hello.ini"
    ini.write_text("[app:main]\nuse = call:hello_here:main\n")
    for server in _serve(ini, tmp_path / "server.log", {}, cwd=tmp_path):
        assert server.get("/") == (200, {"hello": "here"})
