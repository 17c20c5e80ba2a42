"""The hot paths compiled with mypyc at installation, and their plain Python source."""

from __future__ import annotations

import importlib
import importlib.machinery
import os
import re
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from c2cwsgiutils import _compiled, spans

ROOT = Path(__file__).resolve().parent.parent


def _compiled_modules() -> list[str]:
    """The modules setup.py compiles (its COMPILED list), as dotted names."""
    listed = re.search(r"^COMPILED = \[(.*?)\]$", (ROOT / "setup.py").read_text(), re.MULTILINE | re.DOTALL)
    assert listed is not None
    paths = re.findall(r'"([^"]+)\.py"', listed.group(1))
    return [path.replace("/", ".") for path in paths]


@pytest.mark.parametrize("name", _compiled_modules())
def test_every_hot_path_runs_compiled(name: str) -> None:
    if _compiled._pure():
        pytest.skip("C2C_PURE_PYTHON is set")
    importlib.import_module("c2cwsgiutils.collector.intake.ingest")  # loads the collector's through _compiled
    module = _compiled.load(name)
    assert _compiled.is_compiled(module), (
        f"{module.__file__} runs as plain Python: `make install` (pip install -e .) compiles it "
        "with mypyc; see the warnings it printed"
    )
    assert spans.compiled


def test_the_span_tests_pass_on_the_plain_python_source() -> None:
    env = {**os.environ, "C2C_PURE_PYTHON": "1"}
    check = "from c2cwsgiutils import spans; assert not spans.compiled, spans._core.__file__"
    subprocess.run([sys.executable, "-c", check], env=env, check=True, cwd=ROOT)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/test_spans.py",
            "tests/test_spans_pyramid.py",
        ],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert " passed" in result.stdout


def _package(tmp_path: Path, name: str) -> Path:
    """A package with a module ``mod`` and, beside it, a file named like its extension."""
    package = tmp_path / name
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "mod.py").write_text("WHERE = 'source'\n")
    (package / f"mod{importlib.machinery.EXTENSION_SUFFIXES[0]}").write_bytes(b"not a shared library")
    return package


@pytest.fixture
def on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in [name for name in sys.modules if name.startswith(("stale_pkg", "fresh_pkg"))]:
        del sys.modules[name]


def test_a_build_older_than_its_source_is_not_run(on_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = _package(on_path, "stale_pkg")
    old = time.time() - 3600
    extension = package / f"mod{importlib.machinery.EXTENSION_SUFFIXES[0]}"
    os.utime(extension, (old, old))
    monkeypatch.delenv("C2C_PURE_PYTHON", raising=False)
    importlib.import_module("stale_pkg")
    with pytest.warns(RuntimeWarning, match=r"changed after .* was built: running the source"):
        module = _compiled.load("stale_pkg.mod")
    assert module.WHERE == "source"
    assert not _compiled.is_compiled(module)
    assert sys.modules["stale_pkg.mod"] is module


def test_a_fresh_build_is_the_one_imported(on_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _package(on_path, "fresh_pkg")
    monkeypatch.delenv("C2C_PURE_PYTHON", raising=False)
    importlib.import_module("fresh_pkg")
    # The file beside the source is not a real extension: importing it is what fails.
    with pytest.raises(ImportError):
        _compiled.load("fresh_pkg.mod")
    monkeypatch.setenv("C2C_PURE_PYTHON", "yes")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        module = _compiled.load("fresh_pkg.mod")
    assert module.WHERE == "source"


def test_the_module_list_is_setup_pys() -> None:
    assert list(_compiled.MODULES) == _compiled_modules()


def test_build_status_says_compiled_for_every_hot_path() -> None:
    if _compiled._pure():
        pytest.skip("C2C_PURE_PYTHON is set")
    assert set(_compiled.build_status().values()) == {"compiled"}


def test_a_package_without_its_builds_says_so_once_at_start(tmp_path: Path) -> None:
    import shutil

    shutil.copytree(
        ROOT / "c2cwsgiutils", tmp_path / "c2cwsgiutils", ignore=shutil.ignore_patterns("*.so", "__pycache__")
    )
    check = (
        "import logging, subprocess, sys\n"
        "logging.basicConfig(format='%(levelname)s %(message)s')\n"
        "from c2cwsgiutils import _compiled\n"
        "print(_compiled.build_status()['c2cwsgiutils._spans_core'])\n"
        "_compiled.warn_if_not_compiled(logging.getLogger('x'))\n"
        "_compiled.warn_if_not_compiled(logging.getLogger('x'))\n"
        "child = 'import logging; from c2cwsgiutils import _compiled; "
        "_compiled.warn_if_not_compiled(logging.getLogger())'\n"
        "subprocess.run([sys.executable, '-c', child], check=True)\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("C2C_PURE_PYTHON", "_C2C_PLAIN_PYTHON_REPORTED")}
    result = subprocess.run(
        [sys.executable, "-c", check],
        env={**env, "PYTHONPATH": str(tmp_path)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.startswith("plain Python (not built")
    warnings_seen = [line for line in result.stderr.splitlines() if line.startswith("WARNING")]
    assert len(warnings_seen) == 1, result.stderr
    count = len(_compiled.MODULES)
    assert f"{count} of {count} hot paths run as plain Python" in warnings_seen[0]
