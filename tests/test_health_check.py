"""Health checks through a real Configurator + WebTest, against real PostgreSQL, Redis and servers."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import webtest
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, scoped_session, sessionmaker

from c2cwsgiutils import context
from c2cwsgiutils.health_check import (
    HIDDEN_DETAILS,
    HealthCheck,
    HealthCheckError,
    JsonCheckException,
    redact,
)
from tests.helpers import child_env

Setup = Callable[[HealthCheck], None]


class Base(DeclarativeBase):
    pass


class Hello(Base):
    __tablename__ = "hello"
    id: Mapped[int] = mapped_column(primary_key=True)


def make_app(setup: Setup, settings: dict[str, Any] | None = None) -> webtest.TestApp:
    from pyramid.config import Configurator

    config = Configurator(settings=settings or {})
    health_check = HealthCheck(config)
    setup(health_check)
    return webtest.TestApp(config.make_wsgi_app())


def check(app: webtest.TestApp, status: int = 200, **params: str) -> dict[str, Any]:
    return app.get("/c2c/health_check", params=params, status=status).json  # type: ignore[no-any-return]


def _with_database(url: str, database: str) -> str:
    return sa.engine.make_url(url).set(database=database).render_as_string(hide_password=False)


@pytest.fixture
def pg_engine(pg_url: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(pg_url)
    yield engine
    engine.dispose()


# ---- custom checks, levels, selection --------------------------------------------------------


def test_no_check_is_a_success() -> None:
    assert check(make_app(lambda hc: None)) == {"successes": {}, "failures": {}}


def test_custom_check_result_level_and_timing() -> None:
    app = make_app(lambda hc: hc.add_custom_check("answer", lambda request: {"value": 42}))
    success = check(app)["successes"]["answer"]
    assert success["result"] == {"value": 42}
    assert success["level"] == 1
    assert success["timing"] >= 0
    assert set(success) == {"result", "level", "timing"}  # 6.x's entry


def test_failing_check_gives_500_with_its_message() -> None:
    def unhappy(request: Any) -> None:
        raise HealthCheckError("I'm not happy")

    app = make_app(lambda hc: hc.add_custom_check("mood", unhappy, 2))
    report = check(app, status=500, max_level="2")
    assert set(report) == {"successes", "failures"}  # 6.x's shape: the verdict is the HTTP status
    assert report["failures"]["mood"]["message"] == "I'm not happy"
    assert report["failures"]["mood"]["level"] == 2


def test_checks_above_max_level_do_not_run() -> None:
    def unhappy(request: Any) -> None:
        raise HealthCheckError("no")

    app = make_app(lambda hc: hc.add_custom_check("deep", unhappy, 3))
    assert check(app, max_level="2")["failures"] == {}


def test_checks_parameter_selects_checks() -> None:
    def setup(hc: HealthCheck) -> None:
        hc.add_custom_check("a", lambda request: None)
        hc.add_custom_check("b", lambda request: None)
        hc.add_custom_check("c", lambda request: None)

    assert sorted(check(make_app(setup), checks="a,c")["successes"]) == ["a", "c"]


def test_unknown_check_name_is_a_bad_request() -> None:
    app = make_app(lambda hc: hc.add_custom_check("a", lambda request: None))
    app.get("/c2c/health_check", params={"checks": "nope"}, status=400)


def test_duplicate_check_names_are_refused() -> None:
    def setup(hc: HealthCheck) -> None:
        hc.add_custom_check("a", lambda request: None)
        hc.add_custom_check("a", lambda request: None)

    with pytest.raises(ValueError, match="already exists"):
        make_app(setup)


def _raise_with_dsn(request: Any) -> None:
    raise RuntimeError("cannot reach postgresql://app:hunter2@db/app?password=hunter2")


def test_credentials_are_redacted_from_messages() -> None:
    report = check(make_app(lambda hc: hc.add_custom_check("dsn", _raise_with_dsn)), status=500)
    message = report["failures"]["dsn"]["message"]
    assert "hunter2" not in json.dumps(report)
    assert message == "cannot reach postgresql://app:***@db/app?password=***"  # 6.x: the text alone


def test_stack_trace_only_with_the_secret() -> None:
    app = make_app(lambda hc: hc.add_custom_check("dsn", _raise_with_dsn), {"c2c.secret": "s3cret"})
    assert "stacktrace" not in check(app, status=500)["failures"]["dsn"]
    with_secret = check(app, status=500, secret="s3cret")["failures"]["dsn"]
    assert "_raise_with_dsn" in with_secret["stacktrace"]
    assert "hunter2" not in with_secret["stacktrace"]


def test_redact_keeps_urls_without_password() -> None:
    assert redact("http://example.com/a?b=c") == "http://example.com/a?b=c"


def test_a_hanging_check_times_out_and_is_not_started_again() -> None:
    release = threading.Event()

    def setup(hc: HealthCheck) -> None:
        hc.add_custom_check("hangs", lambda request: release.wait(30), timeout=0.3)
        hc.add_custom_check("fine", lambda request: None)

    app = make_app(setup)
    try:
        first = check(app, status=500)
        assert first["failures"]["hangs"]["message"] == "timed out after 0.3s"
        assert list(first["successes"]) == ["fine"]
        second = check(app, status=500)
        assert "a previous run timed out" in second["failures"]["hangs"]["message"]
    finally:
        release.set()


# ---- database --------------------------------------------------------------------------------


def test_db_session_check_with_a_real_postgresql(pg_url: str, pg_engine: sa.Engine) -> None:
    session = scoped_session(sessionmaker(bind=pg_engine))
    app = make_app(lambda hc: hc.add_db_session_check(session))
    database = pg_engine.url.database
    assert list(check(app)["successes"]) == [f"db_engine_{database}"]


def test_db_check_of_a_missing_database_fails_clearly(pg_url: str) -> None:
    engine = sa.create_engine(_with_database(pg_url, "c2c_test_does_not_exist"))
    app = make_app(lambda hc: hc.add_db_session_check(engine))
    failure = check(app, status=500)["failures"]["db_engine_c2c_test_does_not_exist"]
    assert "OperationalError" in failure["message"]
    assert 'database "c2c_test_does_not_exist" does not exist' in failure["message"]
    engine.dispose()


def test_db_check_at_least_one_model(pg_engine: sa.Engine) -> None:
    Base.metadata.create_all(pg_engine)
    try:
        app = make_app(
            lambda hc: hc.add_db_session_check(sessionmaker(bind=pg_engine), at_least_one_model=Hello)
        )
        name = f"db_engine_{pg_engine.url.database}"
        assert check(app, status=500)["failures"][name]["message"] == "no row in hello"
        with pg_engine.begin() as conn:
            conn.execute(sa.insert(Hello).values(id=1))
        assert list(check(app)["successes"]) == [name]
    finally:
        Base.metadata.drop_all(pg_engine)


def test_db_check_of_read_only_and_read_write_engines(pg_url: str, pg_engine: sa.Engine) -> None:
    read_only = sa.create_engine(pg_url, connect_args={"options": "-c default_transaction_read_only=on"})

    class Factory(sessionmaker[Any]):
        ro_engine = read_only
        rw_engine = pg_engine

    app = make_app(lambda hc: hc.add_db_session_check(scoped_session(Factory()), name="db"))
    assert sorted(check(app)["successes"]) == ["db_ro", "db_rw"]
    read_only.dispose()


def test_db_check_with_a_custom_query(pg_engine: sa.Engine) -> None:
    def query(session: Any) -> Any:
        return session.execute(sa.text("SELECT current_database()")).scalar()

    app = make_app(lambda hc: hc.add_db_session_check(pg_engine, query_cb=query, name="db"))
    assert check(app)["successes"]["db"]["result"] == pg_engine.url.database


# ---- URL checks ------------------------------------------------------------------------------


class _Recorder(BaseHTTPRequestHandler):
    seen: list[dict[str, str]] = []

    def do_GET(self) -> None:
        type(self).seen.append({"path": self.path, **dict(self.headers)})
        status = 503 if self.path.startswith("/down") else 200
        body = b'{"ok": true}'
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def http_server() -> Iterator[str]:
    _Recorder.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_url_check_success_forwards_the_request_id(http_server: str) -> None:
    app = make_app(lambda hc: hc.add_url_check(http_server + "/up", name="api", params={"x": "1"}))
    with context.bind(request_id="health-req-1"):
        assert list(check(app)["successes"]) == ["api"]
    assert _Recorder.seen[0]["path"] == "/up?x=1"
    assert _Recorder.seen[0]["X-Request-ID"] == "health-req-1"


def test_url_check_unexpected_status_is_detailed_only_with_the_secret(http_server: str) -> None:
    app = make_app(lambda hc: hc.add_url_check(http_server + "/down", name="api"), {"c2c.secret": "s3cret"})
    assert check(app, status=500, secret="s3cret")["failures"]["api"]["message"] == "HTTP 503 (expected 200)"
    assert check(app, status=500)["failures"]["api"]["message"] == HIDDEN_DETAILS


def test_url_check_of_a_path_goes_to_the_configured_base_url(http_server: str) -> None:
    app = make_app(lambda hc: hc.add_url_check("/up", name="api"), {"c2c.health_check_base_url": http_server})
    response = app.get("/c2c/health_check", status=200, headers={"Host": "evil.example:9"})
    assert list(response.json["successes"]) == ["api"]
    assert _Recorder.seen[0]["path"] == "/up"


def test_a_url_function_never_sees_the_incoming_host(http_server: str) -> None:
    seen: list[str] = []

    def target(request: Any) -> str:
        seen.append(request.host_url)
        return f"{request.application_url}/up"

    app = make_app(
        lambda hc: hc.add_url_check(target, name="api"), {"c2c.health_check_base_url": http_server}
    )
    # The 6.x pattern derived the target from the request: with the incoming Host, anyone could
    # make the service GET any host and port, and read "Connection refused" or not back.
    response = app.get("/c2c/health_check", status=200, headers={"Host": "10.0.0.1:22"})
    assert list(response.json["successes"]) == ["api"]
    assert seen == [http_server]
    assert _Recorder.seen[0]["path"] == "/up"


def test_url_check_expected_status_and_callback(http_server: str) -> None:
    def setup(hc: HealthCheck) -> None:
        hc.add_url_check(http_server + "/down", name="down", expected_status=503)
        hc.add_url_check(http_server + "/up", name="cb", check_cb=lambda request, response: response.json())

    successes = check(make_app(setup))["successes"]
    assert successes["cb"]["result"] == {"ok": True}
    assert "down" in successes


def test_url_check_default_name_hides_the_password(http_server: str) -> None:
    url = http_server.replace("http://", "http://user:pw@") + "/up"
    app = make_app(lambda hc: hc.add_url_check(url, headers={"X-Extra": "1"}))
    assert list(check(app)["successes"]) == [http_server.replace("http://", "http://user:***@") + "/up"]


def test_url_check_against_a_server_that_never_answers_returns_within_its_timeout() -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # connections complete in the backlog but nobody ever answers
    url = f"http://127.0.0.1:{silent.getsockname()[1]}/"
    try:
        app = make_app(lambda hc: hc.add_url_check(url, name="silent", timeout=0.5), {"c2c.secret": "s3cret"})
        start = time.monotonic()
        failure = check(app, status=500, secret="s3cret")["failures"]["silent"]
        assert time.monotonic() - start < 5  # bounded by the check's timeout, not by the server
        assert "timed out" in failure["message"].lower()
    finally:
        silent.close()


# ---- Redis -----------------------------------------------------------------------------------


def test_redis_check_with_a_real_redis(redis_url: str) -> None:
    app = make_app(lambda hc: hc.add_redis_check(), {"c2c.redis_url": redis_url})
    assert list(check(app)["successes"]) == ["redis"]


def test_redis_check_fails_when_redis_is_unreachable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    app = make_app(lambda hc: hc.add_redis_check(url=f"redis://127.0.0.1:{port}/0"))
    assert "Connection refused" in check(app, status=500)["failures"]["redis"]["message"]


def test_redis_check_without_redis_configured() -> None:
    app = make_app(lambda hc: hc.add_redis_check())
    assert "C2C_REDIS_URL" in check(app, status=500)["failures"]["redis"]["message"]


# ---- alembic ---------------------------------------------------------------------------------

ALEMBIC_INI = """\
[alembic]
script_location = %(here)s/migrations
sqlalchemy.url = {url}
"""

ENV_PY = """\
from alembic import context
from sqlalchemy import engine_from_config

config = context.config
engine = engine_from_config(config.get_section(config.config_ini_section), prefix="sqlalchemy.")
with engine.connect() as connection:
    context.configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()
"""

REVISION = """\
from alembic import op
import sqlalchemy as sa

revision = "{rev}"
down_revision = {down}


def upgrade():
    op.create_table("t_{rev}", sa.Column("id", sa.Integer, primary_key=True))


def downgrade():
    op.drop_table("t_{rev}")
"""


@pytest.fixture
def alembic_env(tmp_path: Path) -> tuple[str, str]:
    url = f"sqlite:///{tmp_path / 'app.sqlite'}"
    (tmp_path / "alembic.ini").write_text(ALEMBIC_INI.format(url=url))
    versions = tmp_path / "migrations" / "versions"
    versions.mkdir(parents=True)
    (tmp_path / "migrations" / "env.py").write_text(ENV_PY)
    (tmp_path / "migrations" / "script.py.mako").write_text("")
    (versions / "a1.py").write_text(REVISION.format(rev="a1", down=None))
    (versions / "b2.py").write_text(REVISION.format(rev="b2", down='"a1"'))
    return str(tmp_path / "alembic.ini"), url


def test_alembic_check_fails_until_the_database_is_at_head(alembic_env: tuple[str, str]) -> None:
    from alembic import command
    from alembic.config import Config

    ini, url = alembic_env
    engine = sa.create_engine(url)
    app = make_app(lambda hc: hc.add_alembic_check(engine, ini, level=1))
    command.upgrade(Config(ini), "a1")
    name = "alembic_" + ini.replace("/", "_").strip("_") + "_alembic"  # 6.x's name
    assert check(app, status=500)["failures"][name]["message"] == ("database at revision a1, expected b2")
    command.upgrade(Config(ini), "head")
    assert check(app)["successes"][name]["result"] == "b2"
    engine.dispose()


# ---- versions --------------------------------------------------------------------------------


def test_version_check_in_one_process(tmp_path: Path) -> None:
    versions = tmp_path / "versions.json"
    versions.write_text(json.dumps({"main": {"git_hash": "abc123"}, "packages": {}}))
    app = make_app(lambda hc: hc.add_version_check(level=1), {"c2c.versions_path": str(versions)})
    assert check(app)["successes"]["version"]["result"] == {"version": "abc123", "processes": 1}


OTHER_WORKER = textwrap.dedent(
    """
    import sys, time
    from c2cwsgiutils import broadcast, health_check  # registers the version broadcast function

    broadcast.setup({"c2c.redis_url": sys.argv[1], "c2c.redis_prefix": sys.argv[2]})
    print("ready", flush=True)
    time.sleep(30)
    """
)


def test_version_check_fails_when_workers_differ(tmp_path: Path, redis_url: str, redis_prefix: str) -> None:
    versions = tmp_path / "versions.json"
    versions.write_text(json.dumps({"main": {"git_hash": "new"}, "packages": {}}))
    other = subprocess.Popen(
        [sys.executable, "-c", OTHER_WORKER, redis_url, redis_prefix],
        env=child_env({"GIT_HASH": "old", "C2C_VERSIONS_PATH": str(tmp_path / "missing.json")}),
        stdout=subprocess.PIPE,
    )
    try:
        assert other.stdout is not None
        assert other.stdout.readline().strip() == b"ready"
        settings = {
            "c2c.versions_path": str(versions),
            "c2c.redis_url": redis_url,
            "c2c.redis_prefix": redis_prefix,
        }
        from c2cwsgiutils import broadcast

        broadcast.setup(settings)
        app = make_app(lambda hc: hc.add_version_check(level=1), settings)
        message = check(app, status=500)["failures"]["version"]["message"]
        assert message == "processes run different versions (new: 1, old: 1)"
    finally:
        other.kill()
        other.wait()
        assert other.stdout is not None
        other.stdout.close()


# ---- 6.x API -----------------------------------------------------------------------------------


def test_json_check_exception_shows_its_data_as_the_failure_result() -> None:
    from c2cwsgiutils.health_check import JsonCheckException

    def failing(request: Any) -> None:
        raise JsonCheckException("failing check", {"some": "json"})

    failure = check(make_app(lambda hc: hc.add_custom_check("fail_json", failing)), status=500)["failures"]
    assert failure["fail_json"]["message"] == "failing check"
    assert failure["fail_json"]["result"] == {"some": "json"}
    assert failure["fail_json"]["timing"] >= 0  # seconds, as in 6.x


def test_url_check_takes_6x_positional_arguments_and_functions(http_server: str) -> None:
    seen: list[Any] = []

    def params(request: Any) -> dict[str, str]:
        return {"x": "1"}

    def headers(request: Any) -> dict[str, str]:
        return {"X-Extra": "2"}

    app = make_app(
        lambda hc: hc.add_url_check(
            http_server + "/up", params, headers, "six", lambda req, resp: seen.append(resp.url), 2, 1
        )
    )
    assert list(check(app)["successes"]) == ["six"]
    assert seen == [http_server + "/up?x=1"]


# ---- 6.x defaults and answer shapes ---------------------------------------------------------


def _redis_and_versions(tmp_path: Path, redis_url: str, redis_prefix: str) -> dict[str, str]:
    """Settings with Redis and a versions file (git hash ``abc``): 6.x's default checks apply."""
    versions = tmp_path / "versions.json"
    versions.write_text(json.dumps({"main": {"git_hash": "abc"}, "packages": {}}))
    return {"c2c.redis_url": redis_url, "c2c.redis_prefix": redis_prefix, "c2c.versions_path": str(versions)}


def test_6x_default_checks_redis_named_by_its_url_and_version_at_level_2(
    tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    settings = _redis_and_versions(tmp_path, redis_url, redis_prefix)
    app = make_app(lambda hc: None, settings)
    assert check(app)["successes"] == {}
    successes = check(app, max_level="2")["successes"]
    assert sorted(successes) == sorted([redis_url, "version"])
    assert successes[redis_url]["level"] == 2
    assert successes["version"]["level"] == 2
    assert successes[redis_url]["result"]["role"] == "master"
    assert successes["version"]["result"]["version"] == "abc"


def test_6x_default_checks_only_with_redis() -> None:
    assert check(make_app(lambda hc: None), max_level="9") == {"successes": {}, "failures": {}}


def test_an_exception_without_text_is_named_by_its_type() -> None:
    def silent(request: Any) -> None:
        raise KeyError

    report = check(make_app(lambda hc: hc.add_custom_check("silent", silent)), status=500)
    assert report["failures"]["silent"]["message"] == "KeyError"


def test_json_check_exception_has_its_stack_trace_with_the_secret() -> None:
    def failing(request: Any) -> None:
        raise JsonCheckException("failing check", {"some": "json"})

    app = make_app(lambda hc: hc.add_custom_check("fail_json", failing), {"c2c.secret": "s"})
    failure = check(app, status=500, secret="s")["failures"]["fail_json"]
    assert (failure["message"], failure["result"]) == ("failing check", {"some": "json"})
    assert "failing" in failure["stacktrace"]
    assert "stacktrace" not in check(app, status=500)["failures"]["fail_json"]


def test_the_applications_own_redis_and_version_checks_replace_the_defaults(
    tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    settings = _redis_and_versions(tmp_path, redis_url, redis_prefix)

    def setup(hc: HealthCheck) -> None:
        hc.add_redis_check(level=2)  # named "redis"
        hc.add_version_check(name="same_version", level=3)

    assert sorted(check(make_app(setup, settings), max_level="3")["successes"]) == ["redis", "same_version"]
