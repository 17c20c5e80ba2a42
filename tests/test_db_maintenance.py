"""``{C2C_BASE_PATH}/db/maintenance``: 6.x's read-only database mode, kept in Redis."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pyramid.config import Configurator
from sqlalchemy import text
from webtest import TestApp

from c2cwsgiutils import db
from tests import test_db

roles = test_db.roles  # the module-scoped fixture: two real roles on the test database


@pytest.fixture
def app(roles: dict[str, str], redis_url: str, redis_prefix: str) -> Iterator[TestApp]:
    settings = {
        "sqlalchemy.url": roles["rw_url"],
        "sqlalchemy_slave.url": roles["ro_url"],
        "c2c.secret": "s",
        "c2c.db_maintenance_view_enabled": "true",
        "c2c.redis_url": redis_url,
        "c2c.redis_prefix": redis_prefix,
    }
    with Configurator(settings=settings) as config:
        config.include("c2cwsgiutils.pyramid")
        dbsession, read_write, read_only = db.setup_session(config, "sqlalchemy", "sqlalchemy_slave")

        def whoami(request: Any) -> Any:
            return {"user": dbsession.execute(text("SELECT current_user")).scalar()}

        config.add_route("whoami", "/whoami")
        config.add_view(whoami, route_name="whoami", renderer="json")
        test_app = TestApp(config.make_wsgi_app())
    yield test_app
    db.FORCE_READONLY = False
    read_write.dispose()
    read_only.dispose()


def test_readonly_mode_sends_writes_to_the_read_only_engine(app: TestApp, roles: dict[str, str]) -> None:
    assert app.post("/whoami").json == {"user": roles["rw"]}
    assert app.get("/c2c/db/maintenance", {"secret": "s", "readonly": "true"}).json == {
        "status": 200,
        "readonly": True,
    }
    assert app.post("/whoami").json == {"user": roles["ro"]}
    assert app.get("/c2c/db/maintenance", {"secret": "s"}).json == {"status": 200, "current_readonly": True}
    app.get("/c2c/db/maintenance", {"secret": "s", "readonly": "false"})
    assert app.post("/whoami").json == {"user": roles["rw"]}
    assert app.get("/c2c/db/maintenance", {"secret": "s"}).json == {"status": 200, "current_readonly": False}


def test_the_mode_is_restored_from_redis_at_start_up(
    app: TestApp, roles: dict[str, str], redis_url: str, redis_prefix: str
) -> None:
    from c2cwsgiutils import db_maintenance

    app.get("/c2c/db/maintenance", {"secret": "s", "readonly": "true"})
    db.FORCE_READONLY = False  # a new process
    db_maintenance._restore({"c2c.redis_url": redis_url, "c2c.redis_prefix": redis_prefix})
    assert db.FORCE_READONLY is True


def test_the_view_needs_the_secret_and_a_boolean(app: TestApp) -> None:
    app.get("/c2c/db/maintenance", {"readonly": "true"}, status=403)
    app.get("/c2c/db/maintenance", {"secret": "wrong", "readonly": "true"}, status=403)
    assert (
        "readonly must be true or false"
        in app.get("/c2c/db/maintenance", {"secret": "s", "readonly": "maybe"}, status=400).text
    )


def test_the_view_is_off_unless_enabled() -> None:
    with Configurator(settings={"c2c.secret": "s"}) as config:
        config.include("c2cwsgiutils.pyramid")
        app = TestApp(config.make_wsgi_app())
    app.get("/c2c/db/maintenance", {"secret": "s"}, status=404)
