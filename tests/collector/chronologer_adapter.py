"""Run Chronologer 0.4.7's own HTTP tests against ``c2cwsgiutils-logs serve`` (issue #24).

Executed by the Python 3.9 interpreter of the venv that ``test_chronologer_suite.py`` builds (it
imports Chronologer and CherryPy, which do not import on 3.10+), never imported by pytest.

Chronologer's tests drive an in-process CherryPy server. The only things adapted here are what
the issue allows: the server's address and start-up (a fresh ``c2cwsgiutils-logs serve`` on an
empty SQLite database for every test, configured from the Chronologer settings the test sets),
the record shape (``C2C_COLLECTOR_RECORD_SHAPE=chronologer``: the tests compare whole
records), the per-test ``TRUNCATE`` (moot with a fresh server), assertions that the *server* logged an
error (another process here: its ERROR lines are collected from its log file, not required),
and the raw-SQL ``query`` parameter, translated into the collector's safe language
(:data:`QUERY_TRANSLATIONS`).

Usage: ``python chronologer_adapter.py SERVE_COMMAND WORK_DIR [TEST_ID ...]``; prints one JSON
object per test (``id``, ``outcome`` of ``pass``/``fail``/``error``/``skip``, ``detail``).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

SERVE_COMMAND = sys.argv[1]
WORK_DIR = Path(sys.argv[2])
SERVER_START_TIMEOUT = 30.0
RESULT_PREFIX = "@@chronologer-result "
NON_EMPTY_PASSWORD = "C2C_CHRONOLOGER_NON_EMPTY_PASSWORD"

# Chronologer's start-up imports its storage backends; the test_suite environment needs a DSN.
os.environ.setdefault("CHRONOLOGER_STORAGE_DSN", f"sqlite:///{WORK_DIR / 'chronologer-config.sqlite'}")

import cherrypy  # noqa: E402
from chronologer.test import client as client_tests  # noqa: E402
from chronologer.test import controller as controller_tests  # noqa: E402

# Chronologer's raw SQL (MySQL JSON paths) -> the collector's filter language.
QUERY_TRANSLATIONS = {
    "logrec->>'$.data.lisfor' = 'twiggy'": 'data.lisfor = "twiggy"',
    "1": "level >= 0",  # "any record": only the role needed to use `query` matters there
    "123#": "123#",  # invalid in both languages
}

# Chronologer roles -> collector roles: the collector has Chronologer's (basic-reader, query-reader,
# writer); any other is passed as is, so that the server refuses it at start-up and the test says why.
ROLE_NAMES: dict[str, str] = {}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class CollectorServer:
    """One ``c2cwsgiutils-logs serve`` on a fresh SQLite database."""

    def __init__(self, env: dict[str, str]) -> None:
        self.directory = Path(tempfile.mkdtemp(dir=WORK_DIR, prefix="server-"))
        self.log_path = self.directory / "server.log"
        self.port = _free_port()
        command = [
            SERVE_COMMAND,
            "serve",
            "--port",
            str(self.port),
            "--db-url",
            f"sqlite:///{self.directory / 'c.sqlite'}",
        ]
        full_env = {k: v for k, v in os.environ.items() if not k.startswith(("C2C_", "CHRONOLOGER_"))}
        if "C2C_COLLECTOR_SERVER" in os.environ:  # granian (the default) or gunicorn
            full_env["C2C_COLLECTOR_SERVER"] = os.environ["C2C_COLLECTOR_SERVER"]
        # Chronologer's tests compare whole records: its fields only (docs/chronologer.md).
        full_env["C2C_COLLECTOR_RECORD_SHAPE"] = "chronologer"
        full_env.update(env)
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command, env=full_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"collector did not start: {self.log_tail()}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.2):
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"collector not listening after {SERVER_START_TIMEOUT}s")

    def log_tail(self, lines: int = 3) -> str:
        text = self.log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
        return " | ".join(text[-lines:])

    def log_size(self) -> int:
        return self.log_path.stat().st_size

    def error_lines_since(self, offset: int) -> list[str]:
        with self.log_path.open("rb") as log:
            log.seek(offset)
            text = log.read().decode("utf-8", errors="replace")
        return [line for line in text.splitlines() if "ERROR" in line]

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)


def _credentials_env(auth: dict[str, Any]) -> dict[str, str]:
    """Chronologer's ``auth`` settings (one user, roles) as collector credentials."""
    roles = [ROLE_NAMES.get(role, role) for role in auth.get("roles") or []]
    return {"C2C_COLLECTOR_TOKENS": f"{auth['username']}:{'+'.join(roles)}:{auth['password']}"}


def _server_env(test: unittest.TestCase) -> dict[str, str]:
    """The collector settings equivalent to the Chronologer configuration of ``test``."""
    name = test._testMethodName
    if isinstance(test, controller_tests.TestRecordApiAuthorisation):
        return _credentials_env(cherrypy.config["auth"])
    if isinstance(test, controller_tests.TestProductionEnv):
        if name == "testApiBasicAuthFixed":
            return _credentials_env({"username": "bob", "password": "obb", "roles": ["basic-reader"]})
        if name == "testApiBasicAuthFile":
            # Chronologer's authfile, as its test defines it (PBKDF2 with its own fields).
            path = WORK_DIR / "authfile.json"
            path.write_text(json.dumps(AUTHFILE), encoding="utf-8")
            return {"C2C_COLLECTOR_CREDENTIALS_FILE": str(path)}
        return _credentials_env({"username": "jo", "password": "burns", "roles": ["basic-reader"]})
    if name == "testHttpHandler":
        # It reads dict(headers)["X-Record-Count"]: header names as sent, which gunicorn keeps
        # and granian lower-cases (docs/chronologer.md, "Header names in lower case").
        return {"C2C_COLLECTOR_SERVER": "gunicorn"}
    if name == "testPostInfoJsonTooLong":
        # Chronologer's limit there is MySQL's max_allowed_packet, set to 16384 by the test.
        return {"C2C_COLLECTOR_MAX_BODY_BYTES": "16384"}
    return {}


AUTHFILE = [
    {
        "username": "bob",
        "pbkdf2": "f57ef1e3e8f90cb367dedd44091f251b5b15c9c36ddd7923731fa7ee41cbaa82",
        "hashname": "sha256",
        "salt": "c0139cff",
        "iterations": 32,
        "roles": ["basic-reader"],
    },
    {
        "username": "obo",
        "pbkdf2": "ff680a9237549f698da5345119dec1ed314eb4fdefe59837d0724d747c3169"
        "089ae45215ec98b7c84b7b8b3ac1589139",
        "hashname": "sha384",
        "salt": "9230dbdd5a13f009",
        "iterations": 4096,
        "roles": ["basic-reader"],
    },
]


class _RolesWatchingDict(dict):  # type: ignore[type-arg]
    """``cherrypy.config['auth']``: the tests change ``roles`` with ``mock.patch.dict``; the
    collector reads its credentials at start, so a change restarts it (fresh) with them."""

    test: Any = None

    def _restart(self) -> None:
        test = type(self).test
        if test is not None and getattr(test, "_c2c_server", None) is not None:
            _stop_server(test)
            _start_server(test)

    def update(self, *args: Any, **kwargs: Any) -> None:
        super().update(*args, **kwargs)
        if "roles" in dict(*args, **kwargs):
            self._restart()


def _start_server(test: Any) -> None:
    server = CollectorServer(_server_env(test))
    test._c2c_server = server
    type(test).HOST = "127.0.0.1"
    type(test).PORT = server.port
    test.port = server.port


def _stop_server(test: Any) -> None:
    server = getattr(test, "_c2c_server", None)
    if server is not None:
        server.stop()
        test._c2c_server = None


def _translate_url(url: str) -> str:
    parts = urlsplit(url)
    if not parts.query:
        return url
    params = [(k, QUERY_TRANSLATIONS.get(v, v) if k == "query" else v) for k, v in parse_qsl(parts.query)]
    return parts._replace(query=urlencode(params)).geturl()


class _ServerLogs:
    """What ``assertLogs`` yields: the ERROR lines the collector logged meanwhile."""

    def __init__(self) -> None:
        self.output: list[str] = []
        self.records: list[Any] = []


class _FakeCursor:
    """Chronologer's MySQL cursor in ``testPostInfoJsonTooLong``: its limit is a server setting here."""

    def execute(self, *_args: Any) -> None:
        return None

    def fetchone(self) -> dict[str, str]:
        return {"Value": "0"}


class _FakeStorage:
    class _db:
        @staticmethod
        def cursor() -> _FakeCursor:
            return _FakeCursor()


def _patch_controller_tests() -> None:
    base = controller_tests.TestController
    plain_setup = base.setUp

    def setUp(self: Any) -> None:
        # Chronologer's bootstrap still runs (in process, never serving): the tests read their
        # settings (auth, chunk size) from the CherryPy configuration it fills.
        type(self).setUpServer()
        auth = _RolesWatchingDict(cherrypy.config["auth"])
        if os.environ.get(NON_EMPTY_PASSWORD) and not auth.get("password"):
            # The variant run of test_chronologer_suite.py: Chronologer's default user has an
            # empty password, which the collector refuses (deliberately); with one, its
            # authorisation tests check the roles alone.
            auth["password"] = "not-empty"
        _RolesWatchingDict.test = self
        cherrypy.config["auth"] = auth
        cherrypy.tree.apps["/api/v1/record"].storage = _FakeStorage()
        _start_server(self)

    def tearDown(self: Any) -> None:
        _stop_server(self)
        _RolesWatchingDict.test = None

    def getPage(self: Any, url: str, *args: Any, **kwargs: Any) -> Any:
        return original_get_page(self, _translate_url(url), *args, **kwargs)

    @contextlib.contextmanager
    def assertLogs(self: Any, logger: Any = None, level: Any = None) -> Any:
        if not (isinstance(logger, str) and logger.startswith(("cherrypy", "chronologer"))):
            with original_assert_logs(self, logger, level) as ctx:
                yield ctx
            return
        # A log of the server: read the collector's own log file instead.
        server = self._c2c_server
        offset = server.log_size()
        ctx = _ServerLogs()
        yield ctx
        # Not asserted: a client error is the client's, the collector does not log it at ERROR.
        ctx.output.extend(server.error_lines_since(offset))

    del plain_setup
    original_get_page = base.getPage
    original_assert_logs = unittest.TestCase.assertLogs
    base.setUp = setUp
    base.tearDown = tearDown
    base.getPage = getPage
    base.assertLogs = assertLogs
    # The TRUNCATE of the shared database is moot: every test has a fresh server.
    controller_tests.TestRecordApi.tearDown = tearDown


HTTP_CLASSES = (
    controller_tests.TestRecordApi,
    controller_tests.TestRecordApiAuthorisation,
    controller_tests.TestRecordApiCompression,
    controller_tests.TestProductionEnv,
)


class _JsonResult(unittest.TestResult):
    def _emit(self, test: unittest.TestCase, outcome: str, detail: str = "") -> None:
        print(
            RESULT_PREFIX + json.dumps({"id": test.id(), "outcome": outcome, "detail": detail[-1500:]}),
            flush=True,
        )

    def addSuccess(self, test: unittest.TestCase) -> None:
        super().addSuccess(test)
        self._emit(test, "pass")

    def addFailure(self, test: unittest.TestCase, err: Any) -> None:
        super().addFailure(test, err)
        self._emit(test, "fail", self.failures[-1][1])

    def addError(self, test: unittest.TestCase, err: Any) -> None:
        super().addError(test, err)
        self._emit(test, "error", self.errors[-1][1])

    def addSkip(self, test: unittest.TestCase, reason: str) -> None:
        super().addSkip(test, reason)
        self._emit(test, "skip", reason)


def main() -> int:
    _patch_controller_tests()
    loader = unittest.TestLoader()
    suite = unittest.TestSuite()
    for cls in HTTP_CLASSES:
        suite.addTests(loader.loadTestsFromTestCase(cls))
    suite.addTests(loader.loadTestsFromModule(client_tests))
    wanted = set(sys.argv[3:])
    if wanted:
        suite = unittest.TestSuite(t for t in _flatten(suite) if t.id().rsplit(".", 1)[-1] in wanted)
    # setUpModule of both modules (warnings as errors, Chronologer's bootstrap for client.py).
    controller_tests.setUpModule()
    client_tests.setUpModule()
    suite.run(_JsonResult())
    controller_tests.tearDownModule()
    return 0


def _flatten(suite: unittest.TestSuite) -> list[unittest.TestCase]:
    out: list[unittest.TestCase] = []
    for item in suite:
        if isinstance(item, unittest.TestSuite):
            out.extend(_flatten(item))
        else:
            out.append(item)
    return out


if __name__ == "__main__":
    sys.exit(main())
