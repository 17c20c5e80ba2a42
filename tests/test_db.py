from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg2  # type: ignore[import-untyped]  # no stubs
import pytest
import sqlalchemy
import zope.sqlalchemy
from pyramid.config import Configurator
from sqlalchemy import text
from webtest import TestApp

from c2cwsgiutils import context
from c2cwsgiutils.db import get_database, setup_read_write_session, setup_session
from tests.helpers import free_port, start_process, stop_process, wait_port


@pytest.fixture(scope="module")
def roles(pg_url: str) -> Iterator[dict[str, str]]:
    """Two real roles on the test database: read-write, and read-only by default_transaction_read_only."""
    suffix = uuid.uuid4().hex[:8]
    rw, ro = f"c2c_rw_{suffix}", f"c2c_ro_{suffix}"
    admin = psycopg2.connect(sqlalchemy.make_url(pg_url).render_as_string(hide_password=False))
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f"CREATE TABLE routing_{suffix} (id serial PRIMARY KEY, name text NOT NULL)")
        for role in (rw, ro):
            cursor.execute(f"CREATE ROLE {role} LOGIN")
            cursor.execute(f"GRANT SELECT, INSERT ON routing_{suffix} TO {role}")
            cursor.execute(f"GRANT USAGE ON SEQUENCE routing_{suffix}_id_seq TO {role}")
        cursor.execute(f"ALTER ROLE {ro} SET default_transaction_read_only = on")
    url = sqlalchemy.make_url(pg_url)
    try:
        yield {
            "rw": rw,
            "ro": ro,
            "table": f"routing_{suffix}",
            "rw_url": url.set(username=rw).render_as_string(hide_password=False),
            "ro_url": url.set(username=ro).render_as_string(hide_password=False),
        }
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f"DROP TABLE routing_{suffix}")
            for role in (rw, ro):
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (role,)
                )
                cursor.execute(f"DROP OWNED BY {role}")
                cursor.execute(f"DROP ROLE {role}")
        admin.close()


def whoami(request: Any) -> dict[str, Any]:
    return {"user": request.dbsession.execute(text("SELECT current_user")).scalar()}


def insert(request: Any) -> dict[str, Any]:
    table = request.registry.settings["table"]
    request.dbsession.execute(text(f"INSERT INTO {table} (name) VALUES (:name)"), {"name": request.path})
    zope.sqlalchemy.mark_changed(request.dbsession)  # textual SQL: tell zope.sqlalchemy to commit
    return whoami(request)


def same_session(request: Any) -> dict[str, Any]:
    return {"same": request.dbsession is request.dbsession, "id": id(request.dbsession)}


def request_class(request: Any) -> dict[str, Any]:
    return {"class": id(type(request)), "tm": request.tm is request.tm}


def make_app(roles: dict[str, str], **kwargs: Any) -> tuple[TestApp, Configurator]:
    config = Configurator(
        settings={
            "sqlalchemy.url": roles["rw_url"],
            "sqlalchemy.pool_size": "2",
            "sqlalchemy_slave.url": roles["ro_url"],
            "sqlalchemy_slave.pool_size": "2",
            "table": roles["table"],
        }
    )
    setup = kwargs.pop("setup", setup_session)
    setup(config, "sqlalchemy", "sqlalchemy_slave", **kwargs)
    for name, view in (
        ("whoami", whoami),
        ("insert", insert),
        ("admin_whoami", whoami),
        ("same", same_session),
        ("request_class", request_class),
    ):
        config.add_route(name, f"/{name}")
        config.add_view(view, route_name=name, renderer="json")
    return TestApp(config.make_wsgi_app()), config


@pytest.fixture(scope="module")
def app(roles: dict[str, str]) -> Iterator[TestApp]:
    test_app, config = make_app(roles, force_master=[r"GET /admin_"], force_slave=[r"POST /whoami"])
    yield test_app
    database = get_database(config.registry)
    database.read_write.dispose()
    database.read_only.dispose()


def test_get_uses_the_read_only_role(app: TestApp, roles: dict[str, str]) -> None:
    assert app.get("/whoami").json == {"user": roles["ro"]}


def test_post_uses_the_read_write_role_and_commits(app: TestApp, roles: dict[str, str], pg_url: str) -> None:
    assert app.post("/insert").json == {"user": roles["rw"]}
    engine = sqlalchemy.create_engine(pg_url)
    with engine.connect() as conn:
        assert (
            conn.execute(text(f"SELECT count(*) FROM {roles['table']} WHERE name = '/insert'")).scalar() == 1
        )
    engine.dispose()


def test_head_and_options_use_the_read_only_role(app: TestApp, roles: dict[str, str]) -> None:
    # The read-only role cannot write: a HEAD that inserts fails.
    assert app.options("/whoami").json == {"user": roles["ro"]}
    with pytest.raises(sqlalchemy.exc.InternalError, match="read-only transaction"):
        app.head("/insert")


def test_a_write_in_a_get_fails_on_the_read_only_role(app: TestApp) -> None:
    with pytest.raises(sqlalchemy.exc.InternalError, match="read-only transaction"):
        app.get("/insert")


def test_force_master_routes_a_get_to_the_read_write_role(app: TestApp, roles: dict[str, str]) -> None:
    assert app.get("/admin_whoami").json == {"user": roles["rw"]}


def test_force_slave_routes_a_post_to_the_read_only_role(app: TestApp, roles: dict[str, str]) -> None:
    assert app.post("/whoami").json == {"user": roles["ro"]}


def test_dbsession_is_one_session_per_request(app: TestApp) -> None:
    first, second = app.get("/same").json, app.get("/same").json
    assert first["same"] is True
    assert second["same"] is True


def test_requests_do_not_get_a_new_class_each(app: TestApp) -> None:
    # Pyramid builds a request class per request for reified request properties; ours (and
    # pyramid_tm's tm) are moved onto one subclass at commit time.
    first, second = app.get("/request_class").json, app.get("/request_class").json
    assert first["class"] == second["class"]
    assert first["tm"] is True


def test_concurrent_requests_in_threads_each_get_their_own_engine(
    app: TestApp, roles: dict[str, str]
) -> None:
    errors: list[str] = []

    def run(method: str) -> None:
        client = TestApp(app.app)
        for _ in range(10):
            user = (client.get if method == "GET" else client.post)("/whoami").json["user"]
            expected = roles["ro"] if method == "GET" else roles["rw"]
            if user != expected and method == "GET":
                errors.append(f"{method} ran as {user}")
            if method == "POST" and user != roles["ro"]:  # force_slave: POST /whoami is read-only
                errors.append(f"{method} ran as {user}")

    threads = [threading.Thread(target=run, args=(m,)) for m in ("GET", "POST", "GET", "POST")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


@pytest.mark.slow
def test_threaded_gunicorn_worker_routes_each_request_by_its_method(
    roles: dict[str, str], tmp_path: Any
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    import requests

    port = free_port()
    server = start_process(
        [
            "python",
            "-m",
            "gunicorn",
            "--workers",
            "1",
            "--threads",
            "8",
            "--worker-class",
            "gthread",
            "--bind",
            f"127.0.0.1:{port}",
            "tests.db_app:make_app()",
        ],
        env={"TEST_RW_URL": roles["rw_url"], "TEST_RO_URL": roles["ro_url"]},
    )
    try:
        wait_port(port, process=server)
        url = f"http://127.0.0.1:{port}/whoami"
        with ThreadPoolExecutor(8) as pool, requests.Session() as http:
            answers = list(
                pool.map(lambda i: (http.get if i % 2 else http.post)(url, timeout=20).json(), range(80))
            )
    finally:
        stop_process(server)
    expected = {"GET": roles["ro"], "POST": roles["rw"]}
    assert [a for a in answers if a["user"] != expected[a["method"]]] == []
    assert {a["method"] for a in answers} == {"GET", "POST"}


def test_without_a_read_only_url_both_engines_are_the_same(roles: dict[str, str]) -> None:
    config = Configurator(settings={"sqlalchemy.url": roles["rw_url"]})
    _, read_write, read_only = setup_session(config, "sqlalchemy", "sqlalchemy_slave")
    assert read_only is read_write
    read_write.dispose()


def test_clear_alias_routes_the_same_way(roles: dict[str, str]) -> None:
    test_app, config = make_app(roles, setup=setup_read_write_session, force_read_write=[r"GET /admin_"])
    assert test_app.get("/whoami").json == {"user": roles["ro"]}
    assert test_app.get("/admin_whoami").json == {"user": roles["rw"]}
    database = get_database(config.registry)
    database.read_write.dispose()
    database.read_only.dispose()


def test_session_factory_outside_a_request_uses_the_read_write_engine(roles: dict[str, str]) -> None:
    config = Configurator(
        settings={"sqlalchemy.url": roles["rw_url"], "sqlalchemy_slave.url": roles["ro_url"]}
    )
    session_factory, read_write, read_only = setup_session(config, "sqlalchemy", "sqlalchemy_slave")
    with session_factory() as session:
        assert session.execute(text("SELECT current_user")).scalar() == roles["rw"]
    read_write.dispose()
    read_only.dispose()


def test_setup_session_tags_statements_when_enabled(roles: dict[str, str]) -> None:
    config = Configurator(
        settings={
            "sqlalchemy.url": roles["rw_url"],
            "c2c.sql_request_id": "true",
            "c2c.sql_request_id_mode": "comment",
        }
    )
    session_factory, read_write, _ = setup_session(config, "sqlalchemy")
    with context.bind(request_id="req-db"), session_factory() as session:
        query = session.execute(
            text("SELECT query FROM pg_stat_activity WHERE pid = pg_backend_pid()")
        ).scalar()
    assert query is not None
    assert query.startswith("/*request_id='req-db'*/ ")
    read_write.dispose()
