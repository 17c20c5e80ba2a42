"""A service written against the c2cwsgiutils 6.x API, as 6.1.10's demo application uses it.

Our own code, calling the same functions with the same arguments as that demo: served by
gunicorn with a 6.x ``gunicorn.conf.py`` and ini (``tests/compat6/``) in ``test_app.py``.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from pyramid.config import Configurator
from pyramid.httpexceptions import HTTPForbidden, HTTPInternalServerError
from sqlalchemy.orm import declarative_base

import c2cwsgiutils.pyramid
from c2cwsgiutils import broadcast, db, services
from c2cwsgiutils.health_check import HealthCheck, JsonCheckException

Base = declarative_base()


class Greeting(Base):  # type: ignore[valid-type,misc]
    __tablename__ = "greeting"
    id = sa.Column(sa.Integer, primary_key=True, autoincrement=True)
    value = sa.Column(sa.Text, nullable=False, unique=True)


@broadcast.decorator(expect_answers=True)
def answer() -> int:
    return 42


def _failing(request: Any) -> None:
    raise HTTPInternalServerError("check failed")


def _failing_json(request: Any) -> None:
    raise JsonCheckException("check failed", {"some": "json"})


ping_service = services.create("ping", "/ping")
greeting_service = services.create("greeting", "/greeting")
error_service = services.create("error", "/error")


@ping_service.get()  # type: ignore[untyped-decorator]  # cornice is untyped
def ping(request: Any) -> Any:
    return {"pong": True}


@greeting_service.get()  # type: ignore[untyped-decorator]  # cornice is untyped
def greeting_get(request: Any) -> Any:
    """On the slave."""
    return {"value": request.dbsession.query(Greeting).first().value}


@greeting_service.put()  # type: ignore[untyped-decorator]  # cornice is untyped
def greeting_put(request: Any) -> Any:
    """On the master."""
    return {"value": request.dbsession.query(Greeting).first().value}


@greeting_service.post()  # type: ignore[untyped-decorator]  # cornice is untyped
def greeting_post(request: Any) -> Any:
    """On the slave too (force_slave)."""
    return greeting_put(request)


@greeting_service.patch()  # type: ignore[untyped-decorator]  # cornice is untyped
def greeting_patch(request: Any) -> Any:
    """A write on the master, committed with the request."""
    request.dbsession.add(Greeting(value=request.params["value"]))
    return {"added": request.params["value"]}


echo_service = services.create("echo", "/echo")


@echo_service.get()  # type: ignore[untyped-decorator]  # cornice is untyped
def echo(request: Any) -> Any:
    return {"scheme": request.scheme, "remote_addr": request.remote_addr, "host": request.host}


@error_service.get()  # type: ignore[untyped-decorator]  # cornice is untyped
def error(request: Any) -> Any:
    kind = request.params.get("kind")
    if kind == "dup":
        for _ in range(2):
            request.dbsession.add(Greeting(value="twice"))
    elif kind == "data":
        request.dbsession.add(Greeting(id="abcd", value="x"))
    elif kind == "forbidden":
        raise HTTPForbidden("no way")
    else:
        raise RuntimeError("boom")
    return {"status": 200}


def main(_: Any, **settings: Any) -> Any:
    config = Configurator(settings=settings, route_prefix="/api")
    # Before c2cwsgiutils is included, as the 6.x demo does.
    config.add_route("broadcast", r"/broadcast", request_method="GET")
    config.add_view(lambda request: answer(), route_name="broadcast", renderer="fast_json", http_cache=0)

    config.include(c2cwsgiutils.pyramid.includeme)
    dbsession = db.init(config, "sqlalchemy", "sqlalchemy_slave", force_slave=["POST /api/greeting"])
    config.scan("tests.compat6.app")
    health_check = HealthCheck(config)
    health_check.add_db_session_check(dbsession, at_least_one_model=Greeting)
    health_check.add_url_check(settings["self_url"] + "/api/ping")
    health_check.add_url_check(name="fun_url", url=lambda _request: settings["self_url"] + "/api/ping")
    health_check.add_custom_check("fail", _failing, 2)
    health_check.add_custom_check("fail_json", _failing_json, 2)
    return config.make_wsgi_app()
