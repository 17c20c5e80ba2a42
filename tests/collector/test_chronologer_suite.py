"""Chronologer 0.4.7's own HTTP tests against ``c2cwsgiutils-logs serve`` (issue #24).

The tests come from Chronologer's PyPI package (``chronologer/test/controller.py`` and
``client.py``), installed in a venv under ``.cache/chronologer/`` (git-ignored) with Python 3.9,
the only interpreter its pinned CherryPy runs on. ``chronologer_adapter.py`` runs them with each
server a fresh collector on SQLite; see its docstring for what it adapts. Every Chronologer test
is one test here: those in :data:`KNOWN_DIFFERENCES` are expected to fail, for the reason given
(a difference not fixed yet, or a deliberate one listed in ``docs/chronologer.md``).
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".cache" / "chronologer"
VENV = CACHE / "venv"
ADAPTER = Path(__file__).with_name("chronologer_adapter.py")
REQUIREMENTS = ("chronologer[server]==0.4.7", "pymysql")
RESULT_PREFIX = "@@chronologer-result "
# Chronologer's start-up imports its MySQL backend even on SQLite: PyMySQL stands in for MySQLdb.
MYSQLDB_SHIM = "import pymysql\npymysql.install_as_MySQLdb()\n"

_API = "chronologer.test.controller.TestRecordApi."
_AUTHZ = "chronologer.test.controller.TestRecordApiAuthorisation."
_GZIP = "chronologer.test.controller.TestRecordApiCompression."
_PROD = "chronologer.test.controller.TestProductionEnv."
_QUEUE = "chronologer.test.client.TestQueueProxyHandler."
_BATCH = "chronologer.test.client.TestBatchJsonHandler."

# Chronologer test -> why it does not pass against the collector yet (or on purpose).
KNOWN_DIFFERENCES: dict[str, str] = {
    _API + "testPostIncompleteLogRecord": "error body: ours beside Chronologer's error object, our wording "
    "(it compares the whole body)",
    _API + "testPostInfoJsonNameMessageTrim": "deliberate: names (512) and messages (1 MB) are not cut to "
    "Chronologer's 127 and 255 characters",
    _API + "testPostInfoJsonTooLong": "413 error body: ours beside Chronologer's error object",
    _API + "testPostInfoMultilineJson": "NDJSON POST answers {stored, duplicates, errors}, not the ids",
    _API + "testPostInfoMultilineMalformedJson": "deliberate: a malformed NDJSON line does not refuse the "
    "valid ones (207 with one error per bad line)",
    _API + "testPostInfoMultilineMultistatusJson": "207 body is {stored, duplicates, errors}, not "
    "Chronologer's multistatus by chunk",
    _API + "testPostRawJson": "deliberate: raw=1 (store any JSON object) is refused with 400",
    _API + "testPostRawMultilineJson": "deliberate: raw=1 is not supported; NDJSON answers differ",
    _API + "testRecordCountError": "deliberate: X-Error-Type is ours, not StorageQueryError",
    _API + "testRecordNotFound": "404 body: our type and message beside Chronologer's error object "
    "(its message is CherryPy's wording)",
    _API + "testRecordRangeError": "query error body: our typed error beside Chronologer's error object",
    _AUTHZ + "testGet": "deliberate: Chronologer's default user has an empty password, which the collector "
    "refuses (with one it passes: test_chronologers_authorisation_tests_pass_with_a_password)",
    _AUTHZ + "testHead": "deliberate: empty password refused (passes with one, see above)",
    _AUTHZ + "testPost": "deliberate: empty password refused (passes with one, see above)",
    _GZIP + "testBrotli": "no brotli compression (gzip only: brotli is not a light dependency)",
    _GZIP + "testGzip": "gzip done; the 404 body differs (typed errors beside its), so its length too",
    _GZIP + "testIdentity": "the 404 body differs (typed errors beside Chronologer's), so its length too",
    _PROD + "testApiBasicAuthFile": "deliberate: a wrong password gives 401, not 403",
    _PROD + "testApiBasicAuthFixed": "deliberate: a wrong password gives 401 where Chronologer gives 403",
    _PROD + "testApiNoNegotation": "deliberate: no credentials gives 401 where Chronologer gives 403",
    _PROD + "testRootRedirect": "deliberate: / is the collector's UI, not a redirect to /ui/authn",
    _PROD + "testUiAuthn": "deliberate: no /ui/authn JWT cookie login (the UI uses the API's auth)",
    _PROD + "testUiAuthnForbiddenRedirect": "deliberate: no /ui/authn JWT cookie login",
    _PROD + "testUiAuthnSignout": "deliberate: no /ui/authn JWT cookie login",
    _PROD + "testUiAuthnStatus": "deliberate: no /ui/authn JWT cookie login",
    _PROD + "testUiTrailingSlashRedirect": "deliberate: no /ui/authn JWT cookie login",
}

PASSING = [
    _API + "testCountHistorgram",
    _API + "testHttpHandler",
    _API + "testPostErrorUrlencoded",
    _API + "testPostInfoJson",
    _API + "testPostInfoUrlencoded",
    _PROD + "testHealthCkeck",
    _API + "testPostUnsupportedMediaType",
    *(
        _QUEUE + name
        for name in (
            "testClose",
            "testCloseLogQueueFull",
            "testLog",
            "testLogQueueFull",
            "testLoggerNamePrefix",
            "testLoggerNameSuffix",
            "testQueueAsNonConvertedFactory",
        )
    ),
    *(
        _BATCH + name
        for name in (
            "testFlushBuffer",
            "testFlushEmpty",
            "testFlushLevel",
            "testFlushTimeout",
            "testFlushTimeoutWatcher",
            "testNoAuthResetOnErrorForNextRequest",
            "testRetryOnClientError",
            "testRetryRunOut",
            "testRetrySuccess",
        )
    ),
]
ALL_TESTS = sorted([*PASSING, *KNOWN_DIFFERENCES])


def _python39() -> str | None:
    """A working Python 3.9: ``C2C_TEST_PYTHON39``, pyenv's, or ``python3.9`` on the PATH."""
    candidates = [os.environ.get("C2C_TEST_PYTHON39", "")]
    candidates += sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.9.*/bin/python")))
    candidates.append(shutil.which("python3.9") or "")
    for candidate in candidates:
        if not candidate or not os.access(candidate, os.X_OK):
            continue
        check = [candidate, "-c", "import sys; sys.exit(sys.version_info[:2] != (3, 9))"]
        if subprocess.run(check, capture_output=True, timeout=30, check=False).returncode == 0:
            return candidate
    return None


def _build_venv() -> str | None:
    """Create the venv with Chronologer once; the reason to skip when it cannot be built."""
    marker = VENV / ".complete"
    if marker.exists():
        return None
    python = _python39()
    if python is None:
        return "Python 3.9 is missing (set C2C_TEST_PYTHON39): Chronologer 0.4.7 runs on 3.9 only"
    shutil.rmtree(VENV, ignore_errors=True)
    CACHE.mkdir(parents=True, exist_ok=True)
    subprocess.run([python, "-m", "venv", str(VENV)], check=True, timeout=120)
    pip = subprocess.run(
        [str(VENV / "bin" / "pip"), "install", "--quiet", *REQUIREMENTS],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if pip.returncode != 0:
        last = (pip.stderr.strip().splitlines() or ["no output"])[-1]
        return f"cannot install {' '.join(REQUIREMENTS)} from the package registry: {last}"
    (site,) = glob.glob(str(VENV / "lib" / "python3.9" / "site-packages"))
    shim = Path(site) / "MySQLdb"
    shim.mkdir(exist_ok=True)
    (shim / "__init__.py").write_text(MYSQLDB_SHIM, encoding="utf-8")
    marker.touch()
    return None


@pytest.fixture(scope="module")
def chronologer_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Run Chronologer's HTTP tests once; their outcomes by test id."""
    reason = _build_venv()
    if reason is not None:
        pytest.skip(reason)
    work = tmp_path_factory.mktemp("chronologer")
    serve = Path(sys.executable).parent / "c2cwsgiutils-logs"
    run = subprocess.run(
        [str(VENV / "bin" / "python"), str(ADAPTER), str(serve), str(work)],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        cwd=work,
    )
    results = {}
    for line in run.stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            result = json.loads(line[len(RESULT_PREFIX) :])
            results[result["id"]] = result
    assert results, f"the adapter reported nothing: {run.stderr[-2000:]}"
    return results


@pytest.mark.parametrize(
    "test_id", ALL_TESTS, ids=lambda t: t.rsplit(".", 2)[-2] + "." + t.rsplit(".", 1)[-1]
)
def test_chronologer(test_id: str, chronologer_results: dict[str, dict[str, Any]]) -> None:
    """One of Chronologer's own tests, run against a fresh collector."""
    result = chronologer_results.get(test_id)
    assert result is not None, f"{test_id} did not run"
    if test_id in KNOWN_DIFFERENCES and result["outcome"] != "pass":
        pytest.xfail(KNOWN_DIFFERENCES[test_id])
    assert result["outcome"] == "pass", result["detail"]


def test_chronologers_authorisation_tests_pass_with_a_password(tmp_path: Path) -> None:
    """Its authorisation tests (roles basic-reader, query-reader, writer, none: 403 each where
    Chronologer says it) fail above only because its default user's password is empty, which the
    collector refuses; with a password, they pass."""
    reason = _build_venv()
    if reason is not None:
        pytest.skip(reason)
    serve = Path(sys.executable).parent / "c2cwsgiutils-logs"
    run = subprocess.run(
        [
            str(VENV / "bin" / "python"),
            str(ADAPTER),
            str(serve),
            str(tmp_path),
            "testGet",
            "testHead",
            "testPost",
        ],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        cwd=tmp_path,
        env={**os.environ, "C2C_CHRONOLOGER_NON_EMPTY_PASSWORD": "1"},
    )
    results = [
        json.loads(line[len(RESULT_PREFIX) :])
        for line in run.stdout.splitlines()
        if line.startswith(RESULT_PREFIX)
    ]
    outcomes = {result["id"].rsplit(".", 1)[1]: result["outcome"] for result in results}
    assert outcomes == {"testGet": "pass", "testHead": "pass", "testPost": "pass"}, run.stdout[-3000:]


def test_every_chronologer_test_is_listed(chronologer_results: dict[str, dict[str, Any]]) -> None:
    """A Chronologer test this module does not know of would go unnoticed."""
    assert sorted(chronologer_results) == ALL_TESTS
