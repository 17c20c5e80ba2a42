"""The pytest plugin's fixtures, seen from a project that has c2cwsgiutils installed (a real pytest run)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.helpers import child_env, free_port

SERVER = f"{sys.executable} -m http.server --bind 127.0.0.1"


def _pytest(tmp_path: Path, test: str, *options: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_project.py").write_text(test)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rA", *options, str(tmp_path)],
        cwd=tmp_path,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_prefixed_fixtures_run_the_composition_and_connect_to_the_service(tmp_path: Path) -> None:
    port = free_port()
    (tmp_path / "composition.yaml").write_text(
        f"services:\n  web:\n    command: {SERVER} {port}\n    ready_port: {port}\n    ready_timeout: 20\n"
    )
    test = (
        "def test_it(c2c_composition, c2c_connection):\n"
        "    assert c2c_composition.logs('web') is not None\n"
        "    assert 'Directory listing' in c2c_connection.get('')\n"
    )
    result = _pytest(
        tmp_path,
        test,
        "-W",
        "error",
        f"--c2c-composition={tmp_path / 'composition.yaml'}",
        f"--c2c-base-url=http://127.0.0.1:{port}/",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def test_the_old_fixture_names_still_work_with_a_warning_naming_the_new_ones(tmp_path: Path) -> None:
    test = "def test_it(connection):\n    assert connection.base_url == 'http://127.0.0.1:9/'\n"
    result = _pytest(tmp_path, test, "--c2c-base-url=http://127.0.0.1:9/")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        "the pytest fixture 'connection' of c2cwsgiutils is deprecated: use 'c2c_connection'" in result.stdout
    )


def test_a_project_fixture_named_connection_wins_over_the_plugin_without_warning(tmp_path: Path) -> None:
    test = (
        "import pytest\n\n"
        "@pytest.fixture\ndef connection():\n    return 'mine'\n\n"
        "def test_it(connection):\n    assert connection == 'mine'\n"
    )
    result = _pytest(tmp_path, test, "-W", "error")
    assert result.returncode == 0, result.stdout + result.stderr
