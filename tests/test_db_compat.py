"""The 6.x database API: ``setup_session(...)[0]`` as ``DBSession``, ``db.init``, the script helpers.

Against the real PostgreSQL, with a read-write and a read-only role (``roles`` of test_db).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy
import transaction
from pyramid.config import Configurator
from sqlalchemy import text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, scoped_session
from webtest import TestApp

from c2cwsgiutils import db
from c2cwsgiutils.health_check import HealthCheck
from tests import test_db

roles = test_db.roles  # the module-scoped fixture: two real roles on the test database


class Base(DeclarativeBase):
    pass


def _model(table: str) -> type[Any]:
    """A mapped class on the roles' table (one per table name)."""
    existing = Base.registry._class_registry.get(f"Row_{table}")
    if isinstance(existing, type):
        return existing

    return type(
        f"Row_{table}",
        (Base,),
        {
            "__tablename__": table,
            "id": mapped_column(sqlalchemy.Integer, primary_key=True),
            "name": mapped_column(sqlalchemy.Text, nullable=False),
            "__annotations__": {"id": Mapped[int], "name": Mapped[str]},
        },
    )


def _count(pg_url: str, table: str, name: str) -> int:
    engine = sqlalchemy.create_engine(pg_url)
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(text(f"SELECT count(*) FROM {table} WHERE name = :n"), {"n": name}).scalar() or 0
            )
    finally:
        engine.dispose()


def _settings(urls: dict[str, str], **extra: str) -> dict[str, str]:
    return {
        "sqlalchemy.url": urls["rw_url"],
        "sqlalchemy.pool_size": "2",
        "sqlalchemy_slave.url": urls["ro_url"],
        "sqlalchemy_slave.pool_size": "2",
        **extra,
    }


@pytest.fixture(scope="module")
def old_style(roles: dict[str, str]) -> Iterator[tuple[TestApp, Any]]:
    """An application written as the 6.x README shows: a global DBSession from setup_session()[0]."""
    config = Configurator(settings=_settings(roles))
    # Any: 6.x code reads the engines from attributes set at run time (c2c_rw_bind, c2c_ro_bind).
    dbsession: Any = db.setup_session(
        config, "sqlalchemy", "sqlalchemy_slave", force_slave=[r"POST /api/read"]
    )[0]
    row = _model(roles["table"])

    def add(request: Any) -> Any:
        dbsession.add(row(name=request.params["name"]))
        if request.params.get("fail"):
            raise RuntimeError("the view failed after writing")
        return {"user": dbsession.execute(text("SELECT current_user")).scalar()}

    def read(request: Any) -> Any:
        names = [r.name for r in dbsession.query(row).filter(row.name == request.params["name"]).all()]
        return {"user": dbsession().execute(text("SELECT current_user")).scalar(), "names": names}

    for name, view in (("add", add), ("read", read)):
        config.add_route(name, f"/api/{name}")
        config.add_view(view, route_name=name, renderer="json")
    HealthCheck(config).add_db_session_check(dbsession)
    yield TestApp(config.make_wsgi_app()), dbsession
    dbsession.c2c_rw_bind.dispose()
    dbsession.c2c_ro_bind.dispose()


def test_setup_session_returns_a_scoped_session(old_style: tuple[TestApp, Any]) -> None:
    assert isinstance(old_style[1], scoped_session)


def test_writes_through_the_scoped_session_are_committed(
    old_style: tuple[TestApp, Any],
    roles: dict[str, str],
    pg_url: str,
) -> None:
    app, _ = old_style
    assert app.post("/api/add", {"name": "committed"}).json == {"user": roles["rw"]}
    assert _count(pg_url, roles["table"], "committed") == 1


def test_a_failing_request_rolls_its_writes_back(
    old_style: tuple[TestApp, Any],
    roles: dict[str, str],
    pg_url: str,
) -> None:
    app, _ = old_style
    with pytest.raises(RuntimeError, match="failed after writing"):
        app.post("/api/add", {"name": "rolled-back", "fail": "1"})
    assert _count(pg_url, roles["table"], "rolled-back") == 0


def test_query_on_a_get_runs_on_the_read_only_engine(
    old_style: tuple[TestApp, Any],
    roles: dict[str, str],
) -> None:
    app, _ = old_style
    app.post("/api/add", {"name": "visible"})
    assert app.get("/api/read", {"name": "visible"}).json == {"user": roles["ro"], "names": ["visible"]}


def test_force_slave_routes_a_post_to_the_read_only_engine(
    old_style: tuple[TestApp, Any],
    roles: dict[str, str],
) -> None:
    app, _ = old_style
    assert app.post("/api/read", {"name": "x"}).json["user"] == roles["ro"]


def test_health_check_checks_both_engines_by_their_prefix(old_style: tuple[TestApp, Any]) -> None:
    app, _ = old_style
    report = app.get("/c2c/health_check").json
    assert set(report["successes"]) == {"db_engine_sqlalchemy", "db_engine_sqlalchemy_slave"}


def test_health_check_fails_when_only_the_slave_is_down(roles: dict[str, str]) -> None:
    broken = sqlalchemy.make_url(roles["ro_url"]).set(database="c2c_no_such_database")
    config = Configurator(
        settings=_settings(roles, **{"sqlalchemy_slave.url": broken.render_as_string(hide_password=False)})
    )
    dbsession, read_write, read_only = db.setup_session(config, "sqlalchemy", "sqlalchemy_slave")
    HealthCheck(config).add_db_session_check(dbsession)
    report = TestApp(config.make_wsgi_app()).get("/c2c/health_check", status=500).json
    assert list(report["successes"]) == ["db_engine_sqlalchemy"]
    assert list(report["failures"]) == ["db_engine_sqlalchemy_slave"]
    read_write.dispose()
    read_only.dispose()


def test_db_init_gives_request_dbsession_committed_by_the_explicit_manager(
    roles: dict[str, str],
    pg_url: str,
) -> None:
    config = Configurator(settings=_settings(roles))
    factory = db.init(config, "sqlalchemy", "sqlalchemy_slave", force_master=[r"GET /api/master"])
    # A global DBSession from setup_session next to db.init's explicit transaction manager.
    dbsession: Any = db.setup_session(config, "sqlalchemy", request_property="other_dbsession")[0]
    row = _model(roles["table"])

    def add(request: Any) -> Any:
        request.dbsession.add(row(name="by-init"))
        dbsession.add(row(name="by-scoped-next-to-init"))
        return {"user": request.dbsession.execute(text("SELECT current_user")).scalar()}

    def whoami(request: Any) -> Any:
        return {"user": request.dbsession.execute(text("SELECT current_user")).scalar()}

    for name, view in (("add", add), ("whoami", whoami), ("master", whoami)):
        config.add_route(name, f"/api/{name}")
        config.add_view(view, route_name=name, renderer="json")
    app = TestApp(config.make_wsgi_app())
    assert config.registry["dbsession_factory"] is factory
    assert app.post("/api/add").json == {"user": roles["rw"]}
    assert _count(pg_url, roles["table"], "by-init") == 1
    assert _count(pg_url, roles["table"], "by-scoped-next-to-init") == 1
    assert app.get("/api/whoami").json == {"user": roles["ro"]}
    assert app.get("/api/master").json == {"user": roles["rw"]}
    assert factory.engine_name(True) == "sqlalchemy"
    assert factory.engine_name(False) == "sqlalchemy_slave"
    with factory(None, readwrite=False) as session:
        assert session.execute(text("SELECT current_user")).scalar() == roles["ro"]
    factory.rw_engine.dispose()
    factory.ro_engine.dispose()
    dbsession.c2c_rw_bind.dispose()


def test_script_helpers_commit_with_the_transaction_manager(
    roles: dict[str, str],
    pg_url: str,
) -> None:
    engine = db.get_engine({"sqlalchemy.url": roles["rw_url"]})
    factory = db.get_session_factory(engine)
    row = _model(roles["table"])
    manager = transaction.TransactionManager(explicit=True)
    with manager:
        db.get_tm_session(factory, manager).add(row(name="from-script"))
    assert _count(pg_url, roles["table"], "from-script") == 1
    engine.dispose()


def test_health_check_engine_type_limits_the_engines(roles: dict[str, str]) -> None:
    from c2cwsgiutils.health_check import EngineType

    config = Configurator(settings=_settings(roles))
    dbsession, read_write, read_only = db.setup_session(config, "sqlalchemy", "sqlalchemy_slave")
    HealthCheck(config).add_db_session_check(dbsession, engine_type=EngineType.READ_ONLY)
    report = TestApp(config.make_wsgi_app()).get("/c2c/health_check").json
    assert list(report["successes"]) == ["db_engine_sqlalchemy_slave"]
    read_write.dispose()
    read_only.dispose()
