"""The web span of a request: method, route pattern, status, duration, outcome (Pyramid and WSGI)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest
import webtest
from pyramid.config import Configurator
from pyramid.response import Response

from c2cwsgiutils import context, spans
from c2cwsgiutils.request_tracking import RequestTrackingMiddleware
from tests.test_spans import Collect

BODY_SECONDS = 0.3


@pytest.fixture
def events() -> Iterator[Collect]:
    logger = logging.getLogger("c2cwsgiutils.spans")
    handler = Collect()
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)
    spans.configure(events=True)


def _slow_body_app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
    environ["c2c.route_pattern"] = "/api/items/{id}"
    start_response("200 OK", [("Content-Type", "text/plain")])
    yield b"first "
    time.sleep(BODY_SECONDS)  # the work of a streamed body, after the application returned
    yield b"last"


def _failing_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    raise KeyError("no such item")


def _server_error_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
    return [b"down"]


def _requests(events: Collect) -> list[dict[str, Any]]:
    return [event for event in events.events if event["span_name"] == "request"]


def test_the_wsgi_middleware_records_a_server_span_with_method_route_and_status(events: Collect) -> None:
    app = webtest.TestApp(RequestTrackingMiddleware(_slow_body_app, propagate=False))
    response = app.post("/api/items/7", headers={"X-Request-ID": "wsgi-span"})
    (event,) = _requests(events)
    assert event["request_id"] == "wsgi-span"
    assert (event["span_kind"], event["method"], event["route_pattern"], event["status_code"]) == (
        "server",
        "POST",
        "/api/items/{id}",
        200,
    )
    assert event["status"] == "ok"
    assert response.text == "first last"


def test_the_wsgi_web_span_lasts_until_the_body_is_consumed(events: Collect) -> None:
    middleware = RequestTrackingMiddleware(_slow_body_app, propagate=False)
    environ = webtest.TestRequest.blank("/api/items/7").environ
    body = middleware(environ, lambda status, headers, exc_info=None: None)
    assert _requests(events) == []  # the application returned; its body is not produced yet
    assert b"".join(body) == b"first last"
    body.close()  # type: ignore[attr-defined]
    (event,) = _requests(events)
    assert event["duration_ms"] >= BODY_SECONDS * 1000
    assert context.current() == context.EMPTY


def test_an_exception_in_a_wsgi_application_marks_its_span_failed(events: Collect) -> None:
    app = webtest.TestApp(RequestTrackingMiddleware(_failing_app, propagate=False))
    with pytest.raises(KeyError):
        app.get("/")
    (event,) = _requests(events)
    assert (event["status"], event["error_type"], event["error_message"]) == (
        "error",
        "KeyError",
        "'no such item'",
    )
    assert context.current() == context.EMPTY


def test_a_5xx_answer_marks_the_wsgi_span_failed(events: Collect) -> None:
    webtest.TestApp(RequestTrackingMiddleware(_server_error_app, propagate=False)).get("/", status=503)
    (event,) = _requests(events)
    assert (event["status"], event["status_code"]) == ("error", 503)


def test_the_middleware_span_can_be_turned_off(events: Collect) -> None:
    app = webtest.TestApp(RequestTrackingMiddleware(_server_error_app, propagate=False, record_spans=False))
    app.get("/", status=503)
    assert _requests(events) == []


def _item(request: Any) -> Response:
    return Response(request.matchdict["id"])


def _broken(request: Any) -> Response:
    raise ValueError("bad item 13")


def _pyramid_app() -> Any:
    with Configurator() as config:
        config.include("c2cwsgiutils.request_tracking")
        config.include("c2cwsgiutils.spans")
        config.add_route("item", "/api/items/{id}")
        config.add_view(_item, route_name="item")
        config.add_route("broken", "/broken")
        config.add_view(_broken, route_name="broken")
        return config.make_wsgi_app()


def test_the_pyramid_span_has_the_route_pattern(events: Collect) -> None:
    webtest.TestApp(_pyramid_app()).get("/api/items/42")
    (event,) = _requests(events)
    assert (event["span_kind"], event["method"], event["route"], event["route_pattern"]) == (
        "server",
        "GET",
        "item",
        "/api/items/{id}",
    )
    assert event["status_code"] == 200


def test_an_exception_in_a_pyramid_view_gives_its_type_and_message(events: Collect) -> None:
    with pytest.raises(ValueError, match="bad item"):
        webtest.TestApp(_pyramid_app()).get("/broken")
    (event,) = _requests(events)
    assert (event["status"], event["error_type"], event["error_message"]) == (
        "error",
        "ValueError",
        "bad item 13",
    )


def test_pyramid_under_the_middleware_records_one_web_span(events: Collect) -> None:
    app = webtest.TestApp(RequestTrackingMiddleware(_pyramid_app(), propagate=False))
    app.get("/api/items/42", headers={"X-Request-ID": "both"})
    (event,) = _requests(events)
    assert (event["request_id"], event["route_pattern"], event["status_code"]) == (
        "both",
        "/api/items/{id}",
        200,
    )


def test_flask_routes_name_the_wsgi_span(events: Collect) -> None:
    flask = pytest.importorskip("flask")
    application = flask.Flask(__name__)

    def item(item: int) -> str:
        return str(item)

    application.add_url_rule("/api/items/<int:item>", "item", item)
    application.wsgi_app = RequestTrackingMiddleware(  # type: ignore[method-assign,unused-ignore]  # flask may be absent
        application.wsgi_app, propagate=False
    )
    assert application.test_client().get("/api/items/3").data == b"3"
    (event,) = _requests(events)
    assert (event["route"], event["route_pattern"], event["status_code"]) == (
        "item",
        "/api/items/<int:item>",
        200,
    )
