from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from c2cwsgiutils.acceptance import Composition, DockerComposeBackend, LocalProcessesBackend
from tests.helpers import free_port, wait_for

SERVER = f"{sys.executable} -m http.server --bind 127.0.0.1"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "composition.yaml"
    path.write_text(text)
    return path


@pytest.fixture
def two_services(tmp_path: Path) -> Composition:
    web, api = free_port(), free_port()
    path = write(
        tmp_path,
        f"""
services:
  web:
    command: {SERVER} ${{WEB_PORT}}
    ready_url: http://127.0.0.1:${{WEB_PORT}}/
    ready_timeout: 20
    depends_on: [api]
    env: {{GREETING: "${{GREETING:-hello}}"}}
  api:
    command: [{sys.executable!r}, -m, http.server, --bind, 127.0.0.1, "{api}"]
    ready_port: {api}
    ready_timeout: 20
""",
    )
    return Composition.local(path, variables={"WEB_PORT": str(web)}, log_dir=tmp_path / "logs")


def pid_of(composition: Composition, service: str) -> int:
    backend = composition.backend
    assert isinstance(backend, LocalProcessesBackend)
    return backend.processes[service].pid


def test_up_starts_dependencies_first_and_down_stops_everything(two_services: Composition) -> None:
    backend = two_services.backend
    assert isinstance(backend, LocalProcessesBackend)
    with two_services:
        assert list(backend.processes) == ["api", "web"]
        pids = [pid_of(two_services, "api"), pid_of(two_services, "web")]
        assert all(backend.is_running(name) for name in ("api", "web"))
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_restart_replaces_one_service(two_services: Composition) -> None:
    with two_services:
        web, api = pid_of(two_services, "web"), pid_of(two_services, "api")
        two_services.restart("web")
        assert pid_of(two_services, "web") != web
        assert pid_of(two_services, "api") == api


def test_logs_hold_what_the_service_printed(two_services: Composition) -> None:
    with two_services:
        # The readiness probe itself made a GET / that http.server logged.
        wait_for(lambda: "GET /" in two_services.logs("web"), 5, "the probe's request logged")


def test_exec_runs_in_the_service_environment(two_services: Composition) -> None:
    result = two_services.exec("web", [sys.executable, "-c", "import os; print(os.environ['GREETING'])"])
    assert result.stdout.strip() == "hello"


def test_ready_log_waits_for_a_line_of_this_start(tmp_path: Path) -> None:
    log = tmp_path / "worker.log"
    log.write_text("worker ready (an older run)\n")
    script = "import time; time.sleep(0.5); print('worker ready', flush=True); time.sleep(60)"
    path = write(
        tmp_path,
        f"""
services:
  worker:
    command: [{sys.executable!r}, -c, "{script}"]
    ready_log: "^worker ready$"
    log: {log}
""",
    )
    composition = Composition.local(path)
    start = time.monotonic()
    with composition:
        assert time.monotonic() - start >= 0.5
        assert composition.logs("worker").count("worker ready") == 2


def test_a_service_that_dies_while_starting_fails_clearly(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f"""
services:
  broken:
    command: [{sys.executable!r}, -c, "import sys; print('cannot start: no config'); sys.exit(3)"]
    ready_port: {free_port()}
""",
    )
    composition = Composition.local(path, log_dir=tmp_path)
    with pytest.raises(RuntimeError, match=r"exited with 3 while starting(.|\n)*cannot start: no config"):
        composition.up()


def test_a_service_that_never_gets_ready_times_out(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f"""
services:
  slow:
    command: [{sys.executable!r}, -c, "import time; time.sleep(60)"]
    ready_port: {free_port()}
    ready_timeout: 0.5
""",
    )
    composition = Composition.local(path, log_dir=tmp_path)
    with pytest.raises(TimeoutError, match=r"not ready within 0\.5s"):
        composition.up()
    backend = composition.backend
    assert isinstance(backend, LocalProcessesBackend)
    assert backend.processes == {}


def test_invalid_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'services' mapping"):
        Composition.local(write(tmp_path, "other: 1\n"))
    with pytest.raises(ValueError, match="depends on unknown"):
        Composition.local(write(tmp_path, "services:\n  a: {command: x, depends_on: [b]}\n"))
    with pytest.raises(KeyError, match="UNSET_VARIABLE_X"):
        Composition.local(write(tmp_path, "services:\n  a: {command: 'run ${UNSET_VARIABLE_X}'}\n"))


class Recorder:
    def __init__(self, returncode: int = 0) -> None:
        self.calls: list[list[str]] = []
        self.returncode = returncode

    def __call__(self, args: Sequence[str]) -> subprocess.CompletedProcess[str]:
        self.calls.append(list(args))
        return subprocess.CompletedProcess(list(args), self.returncode, stdout="log line\n", stderr="boom")


def test_docker_compose_commands() -> None:
    recorder = Recorder()
    composition = Composition(DockerComposeBackend("docker-compose.yaml", "proj", recorder))
    composition.up()
    composition.restart("web")
    composition.stop("web")
    composition.start("web")
    assert composition.logs("web") == "log line\n"
    composition.exec("web", ["ls", "-l"])
    composition.down()
    base = ["docker", "compose", "--file", "docker-compose.yaml", "--project-name", "proj"]
    assert recorder.calls == [
        [*base, "up", "--detach", "--wait"],
        [*base, "restart", "web"],
        [*base, "stop", "web"],
        [*base, "start", "web"],
        [*base, "logs", "--no-color", "web"],
        [*base, "exec", "-T", "web", "ls", "-l"],
        [*base, "down", "--volumes", "--remove-orphans"],
    ]


def test_docker_compose_failures_raise_with_stderr() -> None:
    composition = Composition(DockerComposeBackend("dc.yaml", runner=Recorder(returncode=1)))
    with pytest.raises(RuntimeError, match="failed \\(1\\): boom"):
        composition.up(["web"])
