"""A Pyramid application with read-only / read-write routing, served by gunicorn in tests/test_db.py."""

from __future__ import annotations

import os
from typing import Any

from pyramid.config import Configurator
from sqlalchemy import text

from c2cwsgiutils.db import setup_session


def whoami(request: Any) -> dict[str, Any]:
    # pg_sleep lets requests of both kinds overlap in the worker's threads.
    user = request.dbsession.execute(text("SELECT current_user FROM pg_sleep(0.01)")).scalar()
    return {"user": user, "method": request.method}


def make_app() -> Any:
    config = Configurator(
        settings={
            "sqlalchemy.url": os.environ["TEST_RW_URL"],
            "sqlalchemy.pool_size": "4",
            "sqlalchemy_slave.url": os.environ["TEST_RO_URL"],
            "sqlalchemy_slave.pool_size": "4",
        }
    )
    setup_session(config, "sqlalchemy", "sqlalchemy_slave")
    config.add_route("whoami", "/whoami")
    config.add_view(whoami, route_name="whoami", renderer="json")
    return config.make_wsgi_app()
