"""c2cwsgiutils_reload against a real gunicorn: the workers are replaced, the master stays.

With a master started by ``c2cwsgiutils_run`` (a container's usual entry point), a reload serves
the application's new code: the master must not have imported it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.debug.server import GUNICORN, children_of, gunicorn
from tests.helpers import ROOT, child_env, free_port, stop_process, wait_for, wait_port

BIN = Path(sys.executable).parent
RUN = BIN / "c2cwsgiutils_run"

# A service of its own in a temporary directory, as a user's would be; the tests rewrite its view.
PROBE_APP = """\
import os
import pathlib

from pyramid.config import Configurator

# Which processes import this module.
with open(pathlib.Path(__file__).with_name("imported-by"), "a") as file:
    file.write(f"{{os.getpid()}}\\n")


def version(request):
    return {{"version": {version!r}}}


def main(global_config, **settings):
    with Configurator(settings=settings) as config:
        config.include("c2cwsgiutils.pyramid")
        config.add_route("version", "/version")
        config.add_view(version, route_name="version", renderer="json")
        return config.make_wsgi_app()
"""
PROBE_INI = "[app:main]\nuse = call:reload_probe_app:main\n"


def run_reload(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "c2cwsgiutils_reload"), *args],
        env=child_env(env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.slow
def test_reload_replaces_the_workers_and_keeps_the_master(tmp_path: Path) -> None:
    with gunicorn(tmp_path, {}) as server:
        before = children_of(server.master)
        served_before = server.get("/whoami")
        result = run_reload("--pid-file", str(server.pid_file), "--wait", "30")
        assert result.returncode == 0, result.stderr
        after = children_of(server.master)
        assert len(after) == 2
        assert not before & after
        assert f"gunicorn master {server.master}" in result.stderr
        # The master still listens and its new workers serve.
        served_after = server.get("/whoami")
        assert served_before["pid"] in before  # type: ignore[index]
        assert served_after["pid"] in after  # type: ignore[index]


@pytest.mark.slow
def test_reload_finds_the_pid_file_from_the_environment(tmp_path: Path) -> None:
    with gunicorn(tmp_path, {}, workers=1) as server:
        before = children_of(server.master)
        result = run_reload(env={"C2C_GUNICORN_PID_FILE": str(server.pid_file)})
        assert result.returncode == 0, result.stderr
        wait_for(
            lambda: children_of(server.master) and not children_of(server.master) & before,
            message="new worker",
        )
        assert os.path.exists(f"/proc/{server.master}")


def test_reload_refuses_to_signal_a_process_that_is_not_gunicorn() -> None:
    result = run_reload("--pid", str(os.getpid()))
    assert result.returncode == 1
    assert f"process {os.getpid()} is not a running gunicorn" in result.stderr


def test_reload_reports_an_unreadable_pid_file(tmp_path: Path) -> None:
    result = run_reload("--pid-file", str(tmp_path / "missing.pid"))
    assert result.returncode == 1
    assert "cannot read a PID from" in result.stderr


@pytest.mark.slow
def test_reload_without_options_signals_gunicorn_running_as_pid_1(tmp_path: Path) -> None:
    # The container case: gunicorn is PID 1 of its own PID namespace (unshare), and the command
    # runs inside that namespace (nsenter), with no option at all.
    port = free_port()
    with open(tmp_path / "gunicorn.log", "wb") as log:
        namespace = subprocess.Popen(
            [
                "unshare",
                "--pid",
                "--fork",
                "--mount-proc",
                GUNICORN,
                "--workers",
                "2",
                "--bind",
                f"127.0.0.1:{port}",
                "tests.debug.gunicorn_app:application",
            ],
            env=child_env(),
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_port(port, process=namespace)
        wait_for(lambda: len(children_of(namespace.pid)) == 1, message="gunicorn started in its namespace")
        [master] = children_of(namespace.pid)
        wait_for(lambda: len(children_of(master)) == 2, message="2 gunicorn workers")
        before = children_of(master)
        result = subprocess.run(
            [
                "nsenter",
                "--target",
                str(master),
                "--pid",
                "--mount",
                str(BIN / "c2cwsgiutils_reload"),
                "--wait",
                "30",
            ],
            env=child_env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert "gunicorn master 1;" in result.stderr
        after = children_of(master)
        assert len(after) == 2
        assert not before & after
    finally:
        stop_process(namespace)


def test_reload_refuses_a_process_that_only_mentions_gunicorn() -> None:
    code = "import time; print('up', flush=True); time.sleep(30)"
    other = subprocess.Popen([sys.executable, "-c", code, "gunicorn.conf.py"], stdout=subprocess.PIPE)
    try:
        assert other.stdout is not None
        assert other.stdout.readline() == b"up\n"
        result = run_reload("--pid", str(other.pid))
    finally:
        other.kill()
        other.wait()
        assert other.stdout is not None
        other.stdout.close()
    assert result.returncode == 1
    assert f"process {other.pid} is not a running gunicorn" in result.stderr


def _write_probe_app(directory: Path, version: str) -> None:
    (directory / "reload_probe_app.py").write_text(PROBE_APP.format(version=version))


def _probe_env(app_dir: Path) -> dict[str, str]:
    env = child_env({"PYTHONDONTWRITEBYTECODE": "1"})  # the new source is read, never a stale .pyc
    env["PYTHONPATH"] = os.pathsep.join([str(app_dir), env["PYTHONPATH"]])
    env.pop("C2CWSGIUTILS_CONFIG", None)
    return env


def _served_version(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/version", timeout=20) as response:
        return str(json.load(response)["version"])


def _wait_for_version(port: int, expected: str, timeout: float = 30.0) -> None:
    """Poll until ``expected`` is served, then check that every worker serves it (4 answers)."""
    deadline = time.monotonic() + timeout
    served = _served_version(port)
    while served != expected:
        assert time.monotonic() < deadline, f"still serving {served!r} instead of {expected!r}"
        time.sleep(0.1)
        served = _served_version(port)
    assert [_served_version(port) for _ in range(4)] == [expected] * 4


def _wait_for_log(log: Path, text: str) -> str:
    wait_for(lambda: text in log.read_text(), timeout=30, message=f"{text!r} in {log}")
    return log.read_text()


@contextmanager
def _run_probe(
    prefix: Sequence[str], app_dir: Path, *options: str
) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """``c2cwsgiutils_run`` (2 workers) serving the probe app, after ``prefix`` (e.g. unshare)."""
    _write_probe_app(app_dir, "first")
    ini = app_dir / "probe.ini"
    ini.write_text(PROBE_INI)
    port = free_port()
    args = [*prefix, str(RUN), "--paste", str(ini), "--bind", f"127.0.0.1:{port}", "--workers", "2"]
    args += ["--graceful-timeout", "5", "--no-control-socket", *options]
    with open(app_dir / "server.log", "wb") as log:
        process = subprocess.Popen(
            args,
            env=_probe_env(app_dir),
            cwd=app_dir,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_port(port, timeout=60, process=process)
        yield process, port
    finally:
        stop_process(process)


@pytest.mark.slow
def test_reload_of_c2cwsgiutils_run_serves_the_new_code(tmp_path: Path) -> None:
    pid_file = tmp_path / "gunicorn.pid"
    with _run_probe([], tmp_path, "--pid", str(pid_file)) as (process, port):
        _wait_for_version(port, "first")
        for version in ("second", "third, longer"):  # twice: the new master state is reloadable too
            _write_probe_app(tmp_path, version)
            result = run_reload("--pid-file", str(pid_file), "--wait", "30")
            assert result.returncode == 0, result.stderr
            assert f"gunicorn master {process.pid};" in result.stderr
            _wait_for_version(port, version)
        assert process.poll() is None


@pytest.mark.slow
def test_reload_without_options_finds_c2cwsgiutils_run_as_pid_1(tmp_path: Path) -> None:
    # The Dockerfile's CMD: c2cwsgiutils_run is PID 1 of its PID namespace; c2cwsgiutils_reload
    # runs inside that namespace (nsenter) with no option at all.
    unshare = ["unshare", "--pid", "--fork", "--mount-proc"]
    with _run_probe(unshare, tmp_path) as (namespace, port):
        _wait_for_version(port, "first")
        [master] = children_of(namespace.pid)
        _write_probe_app(tmp_path, "second")
        result = subprocess.run(
            [
                "nsenter",
                "--target",
                str(master),
                "--pid",
                "--mount",
                str(BIN / "c2cwsgiutils_reload"),
                "--wait",
                "30",
            ],
            env=child_env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert "gunicorn master 1;" in result.stderr
        _wait_for_version(port, "second")


def test_reload_accepts_the_pid_of_a_c2cwsgiutils_run_master(tmp_path: Path) -> None:
    # Found by its program name, before anything is signalled: a process that is only *named*
    # c2cwsgiutils_run (here a sleeping Python script) ignores SIGHUP so that the test can see it.
    fake = tmp_path / "c2cwsgiutils_run"
    fake.write_text(
        "import signal, sys, time\nsignal.signal(signal.SIGHUP, lambda *_: print('HUP', flush=True))\n"
        "print('up', flush=True)\ntime.sleep(30)\n"
    )
    other = subprocess.Popen([sys.executable, str(fake)], stdout=subprocess.PIPE)
    try:
        assert other.stdout is not None
        assert other.stdout.readline() == b"up\n"
        result = run_reload("--pid", str(other.pid))
        assert result.returncode == 0, result.stderr
        assert other.stdout.readline() == b"HUP\n"
    finally:
        other.kill()
        other.wait()
        assert other.stdout is not None
        other.stdout.close()


@pytest.mark.slow
def test_reload_with_an_invalid_setting_is_refused_and_the_old_workers_keep_serving(tmp_path: Path) -> None:
    pid_file = tmp_path / "gunicorn.pid"
    with _run_probe([], tmp_path, "--pid", str(pid_file)) as (process, port):
        _wait_for_version(port, "first")
        ini = tmp_path / "probe.ini"
        ini.write_text(PROBE_INI + "c2c.base_path = no-slash\n")
        _write_probe_app(tmp_path, "second")
        result = run_reload("--pid-file", str(pid_file), "--wait", "5")
        assert result.returncode == 1
        assert "did not replace its workers within 5s" in result.stderr
        log = _wait_for_log(tmp_path / "server.log", "Reload refused")
        assert (
            "c2cwsgiutils_run: C2C_BASE_PATH (ini: c2c.base_path) must be an absolute URL path such as /c2c "
            "(got 'no-slash')\n"
        ) in log
        assert f"Reload refused: the check of {ini} failed" in log
        assert process.poll() is None
        _wait_for_version(port, "first")
        # Once the ini is fixed, the next reload goes through.
        ini.write_text(PROBE_INI)
        assert run_reload("--pid-file", str(pid_file), "--wait", "30").returncode == 0
        _wait_for_version(port, "second")


@pytest.mark.slow
def test_reload_of_an_application_that_no_longer_imports_is_refused(tmp_path: Path) -> None:
    pid_file = tmp_path / "gunicorn.pid"
    with _run_probe([], tmp_path, "--pid", str(pid_file)) as (process, port):
        _wait_for_version(port, "first")
        (tmp_path / "reload_probe_app.py").write_text("def main(:\n")
        result = run_reload("--pid-file", str(pid_file), "--wait", "5")
        assert result.returncode == 1
        log = _wait_for_log(tmp_path / "server.log", "Reload refused")
        assert "c2cwsgiutils_run: cannot load the application of" in log
        assert "SyntaxError" in log
        assert "Reload refused" in log
        assert process.poll() is None
        _wait_for_version(port, "first")


@pytest.mark.slow
def test_the_master_of_c2cwsgiutils_run_never_imports_the_application(tmp_path: Path) -> None:
    with _run_probe([], tmp_path) as (process, port):
        _wait_for_version(port, "first")
        wait_for(lambda: len(children_of(process.pid)) == 2, message="2 workers")
        importers = {int(pid) for pid in (tmp_path / "imported-by").read_text().split()}
        assert process.pid not in importers
        assert children_of(process.pid) <= importers  # the workers, and the start-up check's child
