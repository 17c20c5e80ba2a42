from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from pyramid.config import Configurator
from pyramid.response import Response
from webtest import TestApp

from c2cwsgiutils import context, spans
from tests.test_spans import Collect

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN = "00f067aa0ba902b7"


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


def hello(request: Any) -> Response:
    with spans.span(".sql") as sql:
        sql.set("rows", 1)
    return Response(f"{context.current().request_id}")


def boom(request: Any) -> Response:
    raise ZeroDivisionError


def make_app(settings: dict[str, Any] | None = None, exception_view: bool = True) -> TestApp:
    with Configurator(settings=settings or {}) as config:
        config.include("c2cwsgiutils.spans")
        config.add_route("hello", "/hello/{name}")
        config.add_view(hello, route_name="hello")
        config.add_route("boom", "/boom")
        config.add_view(boom, route_name="boom")
        if exception_view:
            config.add_view(lambda exc, request: Response("oops", status=500), context=ZeroDivisionError)
        return TestApp(config.make_wsgi_app())


def test_one_summary_event_per_request_with_method_route_and_status(events: Collect) -> None:
    make_app().get("/hello/bob")
    requests = [e for e in events.events if e["span_name"] == "request"]
    assert len(requests) == 1
    event = requests[0]
    assert (event["method"], event["route"], event["status_code"], event["status"]) == (
        "GET",
        "hello",
        200,
        "ok",
    )
    assert isinstance(event["duration_ms"], float)


def test_spans_of_the_view_are_children_of_the_request_span(events: Collect) -> None:
    make_app().get("/hello/bob")
    by_name = events.by_name()
    assert by_name["request.sql"]["parent_span_id"] == by_name["request"]["span_id"]
    assert by_name["request.sql"]["trace_id"] == by_name["request"]["trace_id"]
    assert by_name["request.sql"]["rows"] == 1


def test_the_incoming_trace_and_request_id_are_continued(events: Collect) -> None:
    response = make_app().get(
        "/hello/bob", headers={"X-Request-ID": "req-77", "traceparent": f"00-{TRACE}-{SPAN}-01"}
    )
    assert response.text == "req-77"
    request = events.by_name()["request"]
    assert (request["request_id"], request["trace_id"], request["parent_span_id"]) == (
        "req-77",
        TRACE,
        SPAN,
    )
    assert request["kind"] == "web"


def test_a_not_sampled_traceparent_records_nothing(events: Collect) -> None:
    make_app().get("/hello/bob", headers={"traceparent": f"00-{TRACE}-{SPAN}-00"})
    assert events.events == []


def test_an_unmatched_route_is_recorded_with_an_empty_route(events: Collect) -> None:
    make_app().get("/nowhere", status=404)
    event = events.by_name()["request"]
    assert (event["route"], event["status_code"], event["status"]) == ("", 404, "ok")


def test_a_server_error_rendered_by_an_exception_view_is_an_error(events: Collect) -> None:
    make_app().get("/boom", status=500)
    event = events.by_name()["request"]
    assert (event["status"], event["error_type"], event["status_code"]) == (
        "error",
        "ZeroDivisionError",
        500,
    )


def test_an_exception_escaping_the_application_is_an_error(events: Collect) -> None:
    app = make_app(exception_view=False)
    with pytest.raises(ZeroDivisionError):
        app.get("/boom")
    event = events.by_name()["request"]
    assert (event["status"], event["error_type"], event["route"]) == ("error", "ZeroDivisionError", "boom")
    assert context.current() == context.EMPTY


def test_events_setting_off_records_nothing(events: Collect) -> None:
    make_app({"c2c.spans_events": "false"}).get("/hello/bob")
    assert events.events == []


def test_request_sample_zero_records_no_request(events: Collect) -> None:
    make_app({"c2c.spans_request_sample": "0"}).get("/hello/bob")
    assert events.events == []


def test_the_tween_sits_under_request_tracking_and_over_excview() -> None:
    from pyramid.interfaces import ITweens
    from pyramid.tweens import EXCVIEW

    with Configurator() as config:
        config.add_tween(spans.TRACKING_TWEEN)
        config.include("c2cwsgiutils.spans")
        config.commit()
        # From the ingress to the application.
        names = [name for name, _ in config.registry.getUtility(ITweens).implicit()]
    ours = names.index("c2cwsgiutils.spans.request_span_tween_factory")
    assert names.index(spans.TRACKING_TWEEN) < ours < names.index(EXCVIEW)
