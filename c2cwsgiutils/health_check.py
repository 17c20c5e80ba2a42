"""Health checks served at ``{C2C_BASE_PATH}/health_check?max_level=N&checks=a,b``.

Usage, after the database set-up of the application::

    from c2cwsgiutils.health_check import HealthCheck

    health_check = HealthCheck(config)
    health_check.add_db_session_check(DBSession, at_least_one_model=models.Hello)
    health_check.add_url_check("http://localhost:8080/api/hello", timeout=2)
    health_check.add_custom_check("queue", check_queue, level=2)
    health_check.add_alembic_check(DBSession, "/app/alembic.ini", level=3)
    health_check.add_redis_check(level=2)
    health_check.add_version_check(level=2)

The view runs the checks whose level is at most ``max_level`` (default 1), each in a thread of its
own with its own timeout, so that one hanging dependency cannot hang the endpoint. It answers 200
when every check passed, 500 otherwise, with ``successes`` and ``failures`` (message, level and
time per check, 6.x's answer). Credentials in messages (URL passwords, ``password=...``) are redacted;
stack traces are included only for a request carrying the admin secret. No secret is needed.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from c2cwsgiutils import auth, broadcast, config, context, version

__all__ = [
    "HEALTH_CHECK_TIMEOUT",
    "EngineType",
    "HealthCheck",
    "HealthCheckError",
    "JsonCheckException",
    "redact",
]

LOG = logging.getLogger(__name__)

HEALTH_CHECK_TIMEOUT = config.declare(
    "C2C_HEALTH_CHECK_TIMEOUT",
    "c2c.health_check_timeout",
    10.0,
    config.bounded(config.as_float, 0.1, 300),
    "Seconds each health check may take before it is reported as failed (URL checks have their own).",
    feature="health_check",
)

HEALTH_CHECK_BASE_URL = config.declare(
    "C2C_HEALTH_CHECK_BASE_URL",
    "c2c.health_check_base_url",
    "http://localhost:8080",
    config.as_str,
    "Where the service reaches itself, for URL checks: a target starting with `/` is joined to it, "
    "and a target given as a function of the request (6.x) gets a request built from it, never the "
    "incoming one (whose `Host` header a client chooses).",
    feature="health_check",
)
HIDDEN_DETAILS = "failed (details with the admin secret)"

_REGISTRY_KEY = "c2cwsgiutils.health_checks"
_URL_CREDENTIALS = re.compile(r"(?P<scheme>\b[a-zA-Z][\w+.-]*://)(?P<user>[^:/@\s]*):[^@\s/]*@")
_KEY_VALUE = re.compile(
    r"(?P<key>\b(?:password|passwd|pwd|secret|token|api[_-]?key)\b[\"']?\s*[=:]\s*)"
    r"(?P<value>'[^']*'|\"[^\"]*\"|[^\s&,;'\"]+)",
    re.I,
)
_SQLA_BACKGROUND = re.compile(r"\s*\(Background on this error at: [^)]*\)")


def redact(text: str) -> str:
    """``text`` with URL passwords and ``password=...``-like values replaced by ``***``."""
    text = _URL_CREDENTIALS.sub(lambda m: f"{m['scheme']}{m['user']}:***@", text)
    return _KEY_VALUE.sub(lambda m: f"{m['key']}***", text)


class HealthCheckError(Exception):
    """Raise it from a check to fail with just its message (no stack trace needed)."""


class JsonCheckException(HealthCheckError):
    """A failure with structured content, shown as the failure's ``result`` (6.x API)."""

    def __init__(self, message: str, json: Any) -> None:
        super().__init__(message)
        self.message = message
        self.json = json

    def __str__(self) -> str:
        return self.message

    def json_data(self) -> Any:
        """The JSON-able data shown in the report."""
        return self.json


class EngineType(Enum):
    """Which engines of a read-only / read-write session ``add_db_session_check`` checks (6.x API)."""

    READ_ONLY = 1
    WRITE_ONLY = 2
    READ_AND_WRITE = 3


@dataclass(frozen=True)
class _Check:
    name: str
    func: Callable[[Any], Any]
    level: int
    timeout: float
    private: bool = False  # its error messages only with the secret (URL checks)


class _Checks:
    """The checks of one application and the threads of checks still running past their timeout."""

    def __init__(self, default_timeout: float) -> None:
        self.default_timeout = default_timeout
        self.checks: dict[str, _Check] = {}
        self.running: dict[str, float] = {}
        # Checks HealthCheck added by itself, by kind ("redis", "version") -> name: an application
        # check of the same kind or name replaces them.
        self.defaults: dict[str, str] = {}
        self.lock = threading.Lock()


class HealthCheck:
    """Declares the checks of an application; the first instance adds the view."""

    def __init__(self, config_: Any) -> None:
        registry = config_.registry
        checks: _Checks | None = registry.__dict__.get(_REGISTRY_KEY)
        first = checks is None
        if checks is None:
            checks = _Checks(HEALTH_CHECK_TIMEOUT.get(config_.get_settings()))
            registry.__dict__[_REGISTRY_KEY] = checks
            from c2cwsgiutils.admin import add_admin_view

            add_admin_view(
                config_,
                "health_check",
                "health_check",
                _view,
                title="Health checks",
                params=("max_level", "checks"),
                needs_secret=False,
            )
        self._checks = checks
        self._settings = config_.get_settings()
        self._registry = registry
        if first:
            self._add_6x_default_checks()

    def _add_6x_default_checks(self) -> None:
        """As 6.x: with Redis configured, a Redis check named after its sentinels or URL, and the
        version check when the version is known, both at level 2 (run with ``max_level=2``)."""
        from c2cwsgiutils import redis_client

        sentinels = redis_client.REDIS_SENTINELS.get(self._settings)
        name = ",".join(sentinels) if sentinels else redact(broadcast.REDIS_URL.get(self._settings))
        if not name:
            return
        self.add_redis_check(name=name, level=2)
        self._checks.defaults["redis"] = name
        if version.get_version(self._settings):
            self.add_version_check(level=2)
            self._checks.defaults["version"] = "version"

    # ---- declaring checks -------------------------------------------------------------------

    def add_custom_check(
        self, name: str, check_cb: Callable[[Any], Any], level: int = 1, timeout: float | None = None
    ) -> None:
        """Add ``check_cb(request)``: it fails by raising; what it returns (JSON-able) is shown."""
        if name in self._checks.checks and name not in self._checks.defaults.values():
            raise ValueError(f"a health check named {name!r} already exists")
        wall = self._checks.default_timeout if timeout is None else timeout
        self._drop_default(name=name)
        self._checks.checks[name] = _Check(name, check_cb, level, wall)

    def _drop_default(self, kind: str | None = None, name: str | None = None) -> None:
        """Forget the default check of ``kind`` or named ``name``: the application adds its own."""
        for default_kind, default_name in list(self._checks.defaults.items()):
            if default_kind == kind or default_name == name:
                del self._checks.defaults[default_kind]
                self._checks.checks.pop(default_name, None)

    def add_db_session_check(
        self,
        session: Any,
        query_cb: Callable[[Any], Any] | None = None,
        at_least_one_model: Any = None,
        level: int = 1,
        engine_type: EngineType = EngineType.READ_AND_WRITE,
        *,
        name: str | None = None,
        timeout: float | None = None,
    ) -> None:
        """Check each engine behind ``session``: it answers ``SELECT 1`` (or ``query_cb(session)``).

        ``engine_type`` limits the check to the read-only or the read-write engine.

        ``session`` is a ``sessionmaker``, a ``scoped_session``, a session factory with ``ro_engine``
        and ``rw_engine`` attributes (both are checked, as ``..._ro`` and ``..._rw``), an ``Engine``
        or a mapping of names to engines. With ``at_least_one_model``, that mapped class's table must
        hold at least one row.
        """
        engines = _engines(session)
        if engine_type is not EngineType.READ_AND_WRITE and len(engines) > 1:
            engines = [e for e in engines if e[0] == ("ro" if engine_type is EngineType.READ_ONLY else "rw")]
        for label, engine in engines:
            check_name = name or f"db_engine_{engine.url.database or engine.url.get_backend_name()}"
            if label:
                check_name = f"{check_name}_{label}"
            if name is None and getattr(engine, "c2c_name", None):
                # Engines of setup_session / db.init: named by their ini prefix, as in 6.x.
                check_name = f"db_engine_{engine.c2c_name}"
            self.add_custom_check(check_name, _db_check(engine, query_cb, at_least_one_model), level, timeout)

    def add_url_check(  # noqa: PLR0917 - 6.x's positional order
        self,
        url: str | Callable[[Any], str],
        params: Mapping[str, str] | Callable[[Any], Mapping[str, str]] | None = None,
        headers: Mapping[str, str] | Callable[[Any], Mapping[str, str]] | None = None,
        name: str | None = None,
        check_cb: Callable[[Any, Any], Any] | None = None,
        timeout: float = 3,
        level: int = 1,
        *,
        expected_status: int = 200,
    ) -> None:
        """Check that a GET of ``url`` answers ``expected_status`` within ``timeout`` seconds.

        ``url`` comes from the configuration: an absolute URL, or a path (``/api/hello``) joined to
        ``C2C_HEALTH_CHECK_BASE_URL``. ``url``, ``params`` and ``headers`` may also be functions of
        a request (the 6.x way), but they get a request built from ``C2C_HEALTH_CHECK_BASE_URL``,
        never the incoming one: its ``Host`` header would let anyone make the service call any host
        and port. The request ID and ``traceparent`` of the current request are sent along.
        ``check_cb(request, response)`` may check more (raise to fail); what it returns is shown.
        A failure's message is shown only to a request carrying the admin secret. The positional
        order is 6.x's.
        """
        base_url = HEALTH_CHECK_BASE_URL.get(self._settings).rstrip("/")
        registry = self._registry

        def url_check(request: Any) -> Any:
            import requests

            configured = _configured_request(base_url, registry)
            target = url(configured) if callable(url) else url
            if target.startswith("/"):
                target = base_url + target
            sent = dict((headers(configured) if callable(headers) else headers) or {})
            current = context.current()
            if current.request_id:
                sent.setdefault("X-Request-ID", current.request_id)
            if current.trace_id:
                sent.setdefault("traceparent", current.traceparent)
            query = params(configured) if callable(params) else params
            response = requests.get(target, params=query, headers=sent, timeout=timeout)
            if response.status_code != expected_status:
                raise HealthCheckError(f"HTTP {response.status_code} (expected {expected_status})")
            return check_cb(request, response) if check_cb is not None else None

        shown = name or (url if isinstance(url, str) else str(getattr(url, "__name__", "url")))
        self.add_custom_check(redact(shown), url_check, level, timeout)
        check = self._checks.checks[redact(shown)]
        self._checks.checks[check.name] = dataclasses.replace(check, private=True)

    def add_alembic_check(  # noqa: PLR0917 - 6.x positional order
        self,
        session: Any,
        alembic_ini_path: str,
        level: int = 2,
        name: str = "alembic",
        version_schema: str | None = None,
        version_table: str | None = None,
        *,
        ini_section: str | None = None,
        check_name: str | None = None,
        timeout: float | None = None,
    ) -> None:
        """Check that the database of ``session`` is at the head revision(s) of the alembic scripts.

        As in 6.x, ``name`` is the section of ``alembic_ini_path`` (``ini_section`` is the same),
        the check is named ``alembic_<ini path with _ for />_<section>`` unless ``check_name``
        is given, and its result is the revision.
        """
        ini_section = ini_section or name
        from alembic.config import Config
        from alembic.script import ScriptDirectory

        alembic_config = Config(alembic_ini_path, ini_section=ini_section)
        heads = set(ScriptDirectory.from_config(alembic_config).get_heads())
        schema = version_schema or alembic_config.get_main_option("version_table_schema")
        table = version_table or alembic_config.get_main_option("version_table") or "alembic_version"
        engines = dict(_engines(session))
        engine = engines.get("rw") or next(iter(engines.values()))

        def alembic_check(request: Any) -> Any:
            from alembic.runtime.migration import MigrationContext

            with engine.connect() as connection:
                migration = MigrationContext.configure(
                    connection, opts={"version_table": table, "version_table_schema": schema}
                )
                current = set(migration.get_current_heads())
            if current != heads:
                raise HealthCheckError(
                    f"database at revision {', '.join(sorted(current)) or '(none)'}, "
                    f"expected {', '.join(sorted(heads))}"
                )
            return ", ".join(sorted(current))

        default_name = "alembic_" + alembic_ini_path.replace("/", "_").strip("_") + "_" + ini_section
        self.add_custom_check(check_name or default_name, alembic_check, level, timeout)

    def add_redis_check(
        self, name: str = "redis", level: int = 1, url: str | None = None, timeout: float | None = None
    ) -> None:
        """Check that Redis (``url``, default ``C2C_REDIS_URL`` or the sentinels' master) answers; its
        result is the server's version, role and number of clients."""
        from c2cwsgiutils import redis_client

        self._drop_default(kind="redis")
        settings = {**self._settings, "c2c.redis_url": url} if url else self._settings
        wall = self._checks.default_timeout if timeout is None else timeout
        clients: list[Any] = []

        def redis_check(request: Any) -> Any:
            if not redis_client.configured(settings):
                raise HealthCheckError("no Redis configured (C2C_REDIS_URL or C2C_REDIS_SENTINELS)")
            if not clients:
                clients.append(
                    redis_client.make_client(settings, socket_connect_timeout=wall, socket_timeout=wall)
                )
            info = clients[0].info()
            return {key: info.get(key) for key in ("redis_version", "role", "connected_clients")}

        self.add_custom_check(name, redis_check, level, wall)

    def add_version_check(self, name: str = "version", level: int = 2, timeout: float | None = None) -> None:
        """Check that every worker process (reached through the broadcast) runs the same version."""
        global _process_version
        _process_version = version.get_version(self._settings)
        self._drop_default(kind="version")

        def version_check(request: Any) -> Any:
            answers = _worker_version()
            errors = [a.get("error") for a in answers if "error" in a]
            if errors:
                raise HealthCheckError(f"a process could not tell its version: {errors[0]}")
            counts: dict[str, int] = {}
            for answer in answers:
                counts[str(answer.get("result"))] = counts.get(str(answer.get("result")), 0) + 1
            if len(counts) > 1:
                detail = ", ".join(f"{v or '(unknown)'}: {n}" for v, n in sorted(counts.items()))
                raise HealthCheckError(f"processes run different versions ({detail})")
            return {"version": next(iter(counts), ""), "processes": len(answers)}

        self.add_custom_check(name, version_check, level, timeout)

    # ---- running them -----------------------------------------------------------------------

    def run(self, request: Any, max_level: int = 1, names: Iterable[str] | None = None) -> dict[str, Any]:
        """Run the selected checks and return the report (``status`` 200 or 500)."""
        return _run(self._checks, request, max_level, names)


_process_version: str | None = None


@broadcast.decorator(expect_answers=True, name="c2cwsgiutils.health_check.version")
def _worker_version() -> str:
    return _process_version if _process_version is not None else version.get_version()


def _engines(session: Any) -> list[tuple[str, Any]]:
    """``(label, engine)`` for every engine behind ``session`` (label "" when there is only one)."""
    from sqlalchemy.engine import Engine
    from sqlalchemy.orm import Session, scoped_session, sessionmaker

    if isinstance(session, Engine):
        return [("", session)]
    if isinstance(session, Mapping):
        return [(str(label), engine) for label, engine in session.items()]
    for candidate in (session, getattr(session, "session_factory", None)):
        read_write = getattr(candidate, "rw_engine", None) or getattr(candidate, "c2c_rw_bind", None)
        read_only = getattr(candidate, "ro_engine", None) or getattr(candidate, "c2c_ro_bind", None)
        if read_write is not None or read_only is not None:
            if read_only is None or read_only is read_write:
                return [("", read_write)]
            if read_write is None:
                return [("", read_only)]
            return [("rw", read_write), ("ro", read_only)]
    factory = session.session_factory if isinstance(session, scoped_session) else session
    if isinstance(factory, sessionmaker) and isinstance(factory.kw.get("bind"), Engine):
        return [("", factory.kw["bind"])]
    if isinstance(session, Session) and isinstance(session.bind, Engine):
        return [("", session.bind)]
    probe = session()
    try:
        return [("", probe.get_bind())]
    finally:
        probe.close()


def _db_check(engine: Any, query_cb: Callable[[Any], Any] | None, model: Any) -> Callable[[Any], Any]:
    def db_check(request: Any) -> Any:
        from sqlalchemy import select, text
        from sqlalchemy.orm import Session

        with Session(bind=engine) as session:
            result = query_cb(session) if query_cb is not None else session.execute(text("SELECT 1")).scalar()
            if model is not None and session.execute(select(model).limit(1)).first() is None:
                raise HealthCheckError(f"no row in {getattr(model, '__tablename__', model)}")
            return None if query_cb is None else result

    return db_check


def _configured_request(base_url: str, registry: Any) -> Any:
    """A request for ``base_url``: what a 6.x URL-check function gets instead of the incoming one."""
    from pyramid.request import Request

    request = Request.blank("/", base_url=base_url)
    request.registry = registry
    return request


def _execute(check: _Check, request: Any, outcome: dict[str, Any], checks: _Checks) -> None:
    start = time.perf_counter()
    try:
        outcome["result"] = check.func(request)
    except HealthCheckError as exc:
        outcome["error"] = str(exc)
        if isinstance(exc, JsonCheckException):
            outcome["stacktrace"] = traceback.format_exc()  # 6.x showed it (with the secret)
            if exc.json_data() is not None:
                outcome["result"] = exc.json_data()
    except Exception as exc:
        # 6.x's message: the exception's text; its type when it has none (the log line has both).
        message = _SQLA_BACKGROUND.sub("", str(exc)).strip()
        outcome["error"] = message or type(exc).__name__
        outcome["stacktrace"] = traceback.format_exc()
        LOG.warning("Health check %s failed: %s: %s", check.name, type(exc).__name__, redact(message))
    finally:
        outcome["timing"] = time.perf_counter() - start
        with checks.lock:
            checks.running.pop(check.name, None)


def _run(
    checks: _Checks, request: Any, max_level: int, names: Iterable[str] | None, details: bool = True
) -> dict[str, Any]:
    wanted = None if names is None else set(names)
    selected = [
        c for c in checks.checks.values() if c.level <= max_level and (wanted is None or c.name in wanted)
    ]
    successes: dict[str, Any] = {}
    failures: dict[str, Any] = {}
    started: list[tuple[_Check, threading.Thread, dict[str, Any], float]] = []
    for check in selected:
        with checks.lock:
            since = checks.running.get(check.name)
            if since is None:
                checks.running[check.name] = time.monotonic()
        if since is not None:
            # A previous run is still hanging: do not pile up threads on a dead dependency.
            failures[check.name] = {
                "message": f"still running since {time.monotonic() - since:.1f}s (a previous run timed out)",
                "level": check.level,
                "timing": 0.0,
            }
            continue
        outcome: dict[str, Any] = {}
        thread = threading.Thread(
            target=context.wrap(_execute),
            args=(check, request, outcome, checks),
            name=f"c2c-health-check-{check.name}",
            daemon=True,
        )
        thread.start()
        started.append((check, thread, outcome, time.monotonic()))
    for check, thread, outcome, began in started:
        thread.join(max(0.0, began + check.timeout - time.monotonic()))
        if thread.is_alive() or "timing" not in outcome:
            failures[check.name] = {
                "message": f"timed out after {check.timeout:g}s",
                "level": check.level,
                "timing": time.monotonic() - began,
            }
            continue
        entry: dict[str, Any] = {
            "level": check.level,
            "timing": outcome["timing"],  # seconds, as in 6.x
        }
        if "error" in outcome:
            entry["message"] = redact(outcome["error"]) if details or not check.private else HIDDEN_DETAILS
            if outcome.get("result") is not None:
                entry["result"] = outcome["result"]
            if "stacktrace" in outcome:
                entry["stacktrace"] = redact(outcome["stacktrace"])
            failures[check.name] = entry
        else:
            if outcome.get("result") is not None:
                entry["result"] = outcome["result"]
            successes[check.name] = entry
    return {"status": 500 if failures else 200, "successes": successes, "failures": failures}


def _view(request: Any) -> dict[str, Any]:
    from pyramid.httpexceptions import HTTPBadRequest

    checks: _Checks = request.registry.__dict__[_REGISTRY_KEY]
    try:
        max_level = int(request.params.get("max_level", "1"))
    except ValueError:
        raise HTTPBadRequest("max_level must be an integer") from None
    names = None
    if request.params.get("checks"):
        names = [n.strip() for n in request.params["checks"].split(",") if n.strip()]
        unknown = sorted(set(names) - set(checks.checks))
        if unknown:
            raise HTTPBadRequest(f"unknown checks: {', '.join(unknown)}")
    authenticated = auth.is_authenticated(request)
    report = _run(checks, request, max_level, names, details=authenticated)
    if not authenticated:
        for failure in report["failures"].values():
            failure.pop("stacktrace", None)
    request.response.status_code = report.pop("status")
    return report  # 6.x's shape: successes and failures; the verdict is the HTTP status


def includeme(config_: Any) -> None:
    """Pyramid include: nothing to wire until ``HealthCheck(config)`` declares checks (it adds the view)."""
    HEALTH_CHECK_TIMEOUT.get(config_.get_settings())
