"""JSON error views, through a real Configurator and WebTest."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Mapping
from typing import Any

import pytest
from pyramid.config import Configurator
from pyramid.httpexceptions import HTTPForbidden, HTTPFound, HTTPMethodNotAllowed
from pyramid.tweens import EXCVIEW
from webtest import TestApp

from c2cwsgiutils import context

SECRET = "s3cr3t-value"


class Boom(Exception):
    pass


def _boom(request: Any) -> Any:
    raise Boom("database password is hunter2")


def _forbidden(request: Any) -> Any:
    raise HTTPForbidden("You may not")


def _redirect(request: Any) -> Any:
    raise HTTPFound(location="/elsewhere")


def _not_allowed(request: Any) -> Any:
    raise HTTPMethodNotAllowed(headers={"Allow": "GET"})


def _read_body(request: Any) -> Any:
    return {"length": len(request.body)}


def request_id_tween_factory(handler: Any, registry: Any) -> Any:
    """Stands for the request-tracking tween: binds a request ID around the exception views."""

    def tween(request: Any) -> Any:
        if request.path != "/with_request_id":
            return handler(request)
        with context.bind(request_id="abc123"):
            return handler(request)

    return tween


def _with_request_id(request: Any) -> Any:
    raise Boom("inside a request")


def make_app(settings: Mapping[str, Any] | None = None) -> TestApp:
    with Configurator(settings=dict(settings or {})) as config:
        config.include("c2cwsgiutils.errors")
        config.add_tween("tests.test_errors.request_id_tween_factory", over=EXCVIEW)
        for name, view in [
            ("boom", _boom),
            ("forbidden", _forbidden),
            ("redirect", _redirect),
            ("not_allowed", _not_allowed),
            ("read_body", _read_body),
            ("with_request_id", _with_request_id),
        ]:
            config.add_route(name, f"/{name}")
            config.add_view(view, route_name=name, renderer="json")
        return TestApp(config.make_wsgi_app())


@pytest.fixture
def app() -> TestApp:
    return make_app({"c2c.secret": SECRET})


def test_unknown_path_is_a_json_404(app: TestApp) -> None:
    response = app.get("/no/such/page", status=404)
    assert response.content_type == "application/json"
    assert response.json == {"status": 404, "message": "/no/such/page", "request_id": None}


def test_http_exception_keeps_its_status_and_message(app: TestApp) -> None:
    response = app.get("/forbidden", status=403)
    assert response.json == {"status": 403, "message": "You may not", "request_id": None}


def test_http_exception_keeps_its_headers(app: TestApp) -> None:
    response = app.get("/not_allowed", status=405)
    assert response.headers["Allow"] == "GET"
    assert response.content_type == "application/json"


def test_redirect_is_not_turned_into_an_error(app: TestApp) -> None:
    response = app.get("/redirect", status=302)
    assert response.headers["Location"].endswith("/elsewhere")


def test_exception_is_a_json_500_without_details(app: TestApp) -> None:
    response = app.get("/boom", status=500)
    assert response.json == {"status": 500, "message": "Internal server error", "request_id": None}


def test_exception_is_logged_once_with_traceback(app: TestApp, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        app.get("/boom", status=500)
    errors = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert errors[0].name == "c2cwsgiutils.errors"
    assert "GET /boom" in errors[0].getMessage()
    assert errors[0].exc_info is not None
    assert "Boom: database password is hunter2" in caplog.text


def test_client_errors_are_not_logged_as_errors(app: TestApp, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        app.get("/forbidden", status=403)
        app.get("/no/such/page", status=404)
    assert [record for record in caplog.records if record.levelno >= logging.WARNING] == []
    assert any("403 GET /forbidden" in record.getMessage() for record in caplog.records)


def test_no_stacktrace_with_a_wrong_secret(app: TestApp) -> None:
    response = app.get("/boom", headers={"X-API-Key": "wrong"}, status=500)
    assert "stacktrace" not in response.json


def test_stacktrace_and_message_with_the_secret(app: TestApp) -> None:
    response = app.get("/boom", headers={"X-API-Key": SECRET}, status=500)
    assert response.json["message"] == "Boom: database password is hunter2"
    assert "Traceback (most recent call last)" in response.json["stacktrace"]
    assert "_boom" in response.json["stacktrace"]


def test_stacktrace_in_development_mode() -> None:
    app = make_app({"c2c.development": "true"})
    response = app.get("/boom", status=500)
    assert "Traceback (most recent call last)" in response.json["stacktrace"]


def test_development_mode_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("C2C_DEVELOPMENT", "yes")
    response = make_app({"c2c.development": "false"}).get("/forbidden", status=403)
    assert "stacktrace" in response.json


def test_request_id_of_the_current_context_is_returned(app: TestApp) -> None:
    response = app.get("/with_request_id", status=500)
    assert response.json["request_id"] == "abc123"


def test_head_request_gets_the_status_without_body(app: TestApp) -> None:
    response = app.head("/no/such/page", status=404)
    assert response.body == b""


def test_head_request_on_an_exception_gets_no_body(app: TestApp) -> None:
    response = app.head("/boom", status=500)
    assert response.body == b""


def _truncated_post(app: TestApp, body: bytes, announced: int) -> Any:
    """A POST whose client announced ``announced`` bytes but sent only ``body`` then went away."""
    from webob import Request

    request = Request.blank("/read_body", method="POST")
    request.environ["wsgi.input"] = io.BytesIO(body)
    request.environ["CONTENT_LENGTH"] = str(announced)
    request.environ.pop("webob.is_body_seekable", None)
    return request.get_response(app.app)


def test_client_disconnect_is_a_400_logged_at_info(app: TestApp, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        response = _truncated_post(app, b'{"na', 1000)
    assert response.status_code == 400
    assert response.json["message"] == "Client disconnected while sending the request"
    assert [record for record in caplog.records if record.levelno >= logging.WARNING] == []
    assert any("client disconnected" in record.getMessage() for record in caplog.records)


class _ResetInput(io.RawIOBase):
    """A request body whose connection is reset by the peer, as a socket would report it."""

    def readinto(self, buffer: Any) -> int:
        raise ConnectionResetError(104, "Connection reset by peer")

    def readable(self) -> bool:
        return True


def test_connection_reset_while_reading_the_body_is_a_client_disconnect(
    app: TestApp, caplog: pytest.LogCaptureFixture
) -> None:
    from webob import Request

    request = Request.blank("/read_body", method="POST")
    request.environ["wsgi.input"] = _ResetInput()
    request.environ["CONTENT_LENGTH"] = "100"
    request.environ.pop("webob.is_body_seekable", None)
    with caplog.at_level(logging.DEBUG):
        response = request.get_response(app.app)
    assert response.status_code == 400
    assert [record for record in caplog.records if record.levelno >= logging.WARNING] == []


def test_connection_error_of_the_application_is_still_a_500() -> None:
    def outgoing(request: Any) -> Any:
        raise ConnectionResetError(104, "Connection reset by peer")

    with Configurator() as config:
        config.include("c2cwsgiutils.errors")
        config.add_route("outgoing", "/outgoing")
        config.add_view(outgoing, route_name="outgoing")
        app = TestApp(config.make_wsgi_app())
    assert app.get("/outgoing", status=500).json["status"] == 500


def test_an_application_not_found_view_wins_over_ours() -> None:
    def custom(request: Any) -> Any:
        request.response.status = 404
        return {"custom": True}

    with Configurator() as config:
        config.include("c2cwsgiutils.errors")
        config.add_notfound_view(custom, renderer="json")
        app = TestApp(config.make_wsgi_app())
    assert app.get("/nothing", status=404).json == {"custom": True}


def test_query_string_is_not_logged(app: TestApp, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        app.get("/boom", {"secret": SECRET}, status=500)
    assert SECRET not in caplog.text


def _every_route(registry: Any) -> list[str]:
    from pyramid.interfaces import IRoutesMapper

    mapper = registry.queryUtility(IRoutesMapper)
    paths = []
    for route in mapper.get_routes():
        # Every placeholder of the pattern ({name}, {name:regex}, *name) gets a value.
        names = re.findall(r"\{(\w+)(?::[^}]*)?\}|\*(\w+)", route.pattern)
        paths.append(route.generate({name or star: "x" for name, star in names}))
    return paths


@pytest.mark.parametrize("query", ["x=%FF", "secret=%C3&x=1", "%FF=1"])
def test_a_query_string_that_is_not_utf8_is_a_400_on_every_view(query: str) -> None:
    from c2cwsgiutils.collector.http.app import create_app

    app = create_app({"c2c.collector.db_url": "sqlite://", "c2c.secret": SECRET})
    paths = _every_route(app.registry)
    assert any(path.startswith("/c2c") for path in paths)
    assert any(path.startswith("/api/v1") for path in paths)
    test_app = TestApp(app)
    for path in paths:
        response = test_app.get(f"{path}?{query}", expect_errors=True)
        assert response.status_int == 400, (path, response.status, response.body[:200])
        assert "not valid UTF-8" in response.json["message"]
