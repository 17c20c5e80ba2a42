"""c2cwsgiutils-genversion as a real subprocess, and the versions.json view."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import webtest

from tests.helpers import child_env

GENVERSION = Path(sys.executable).parent / "c2cwsgiutils-genversion"


def _genversion(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(GENVERSION), *args], env=child_env(), capture_output=True, text=True, timeout=60, check=False
    )


def test_genversion_writes_hash_tag_and_packages(tmp_path: Path) -> None:
    output = tmp_path / "versions.json"
    result = _genversion("v1.2.3", "0123abcd", "--output", str(output))
    assert result.returncode == 0, result.stderr
    data = json.loads(output.read_text())
    assert data["main"] == {"git_hash": "0123abcd", "git_tag": "v1.2.3"}
    from importlib import metadata

    assert data["packages"]["pyramid"] == metadata.version("pyramid")
    assert "c2cwsgiutils" in data["packages"]


def test_genversion_with_only_a_hash(tmp_path: Path) -> None:
    result = _genversion("0123abcd", "--output", str(tmp_path / "v.json"))
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "v.json").read_text())["main"] == {"git_hash": "0123abcd"}


def test_genversion_without_arguments_fails_with_usage(tmp_path: Path) -> None:
    result = _genversion()
    assert result.returncode == 2
    assert "usage: c2cwsgiutils-genversion" in result.stderr


def _app(settings: dict[str, Any]) -> webtest.TestApp:
    from pyramid.config import Configurator

    config = Configurator(settings=settings)
    config.include("c2cwsgiutils.version")
    return webtest.TestApp(config.make_wsgi_app())


def test_versions_view_serves_the_file_behind_the_secret(tmp_path: Path) -> None:
    output = tmp_path / "versions.json"
    assert _genversion("abc", "--output", str(output)).returncode == 0
    app = _app({"c2c.versions_path": str(output), "c2c.secret": "s3cret"})
    app.get("/c2c/versions.json", status=403)
    answer = app.get("/c2c/versions.json", params={"secret": "s3cret"}).json
    compiled = answer.pop("c2cwsgiutils_compiled")
    assert answer == json.loads(output.read_text())
    assert set(compiled) == {
        "c2cwsgiutils._context_core",
        "c2cwsgiutils._spans_core",
        "c2cwsgiutils.collector.intake._form_core",
        "c2cwsgiutils.collector.intake._batch_core",
        "c2cwsgiutils.collector.intake._otlp_core",
        "c2cwsgiutils.collector.intake._otlp_json",
        "c2cwsgiutils.logging._emit_core",
    }


def test_versions_view_is_absent_without_secret_configured(tmp_path: Path) -> None:
    output = tmp_path / "versions.json"
    output.write_text('{"main": {"git_hash": "abc"}, "packages": {}}')
    _app({"c2c.versions_path": str(output)}).get("/c2c/versions.json", status=404)


def test_versions_view_is_absent_without_the_file(tmp_path: Path) -> None:
    app = _app({"c2c.versions_path": str(tmp_path / "missing.json"), "c2c.secret": "s3cret"})
    app.get("/c2c/versions.json", params={"secret": "s3cret"}, status=404)


def test_get_version_falls_back_to_git_hash_env(tmp_path: Path) -> None:
    script = "from c2cwsgiutils import version; print(version.get_version())"
    result = subprocess.run(
        [sys.executable, "-c", script],
        env=child_env({"GIT_HASH": "from-env", "C2C_VERSIONS_PATH": str(tmp_path / "missing.json")}),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.strip() == "from-env"


def test_a_missing_default_versions_file_is_not_logged_at_start(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("C2C_VERSIONS_PATH", raising=False)
    with caplog.at_level(logging.INFO, logger="c2cwsgiutils.version"):
        _app({"c2c.secret": "s3cret"})
    assert [r.getMessage() for r in caplog.records] == []


def test_a_missing_chosen_versions_file_is_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="c2cwsgiutils.version"):
        _app({"c2c.versions_path": str(tmp_path / "missing.json")})
    assert [r.levelname for r in caplog.records] == ["WARNING"]
