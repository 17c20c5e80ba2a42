from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest
import webtest
from pyramid.config import Configurator

from c2cwsgiutils import config, context
from c2cwsgiutils.request_tracking import RequestTrackingMiddleware

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
HEX32 = re.compile(r"[0-9a-f]{32}\Z")


def _seen(request: Any) -> dict[str, Any]:
    ctx = context.current()
    logging.getLogger("tests.view").warning("in the view")
    return {
        "attribute": request.c2c_request_id,
        "environ": request.environ["c2c.request_id"],
        "context": ctx.request_id,
        "trace_id": ctx.trace_id,
        "span_id": ctx.span_id,
        "parent_span_id": ctx.parent_span_id,
        "sampled": ctx.sampled,
        "tracestate": ctx.tracestate,
        "kind": ctx.kind,
        "route": ctx.route,
    }


def _failing(request: Any) -> None:
    raise RuntimeError("boom")


def make_app(settings: dict[str, Any] | None = None) -> webtest.TestApp:
    configurator = Configurator(settings=settings or {})
    configurator.include("c2cwsgiutils.request_tracking")
    configurator.add_route("seen", "/seen")
    configurator.add_view(_seen, route_name="seen", renderer="json")
    configurator.add_route("fail", "/fail")
    configurator.add_view(_failing, route_name="fail")
    return webtest.TestApp(configurator.make_wsgi_app())


@pytest.fixture
def app() -> webtest.TestApp:
    return make_app()


def test_a_good_incoming_id_is_kept_everywhere(app: webtest.TestApp) -> None:
    response = app.get("/seen", headers={"X-Request-ID": "abc-123_x.y:z/+=@"})
    assert response.headers["X-Request-ID"] == "abc-123_x.y:z/+=@"
    assert {response.json[key] for key in ("attribute", "environ", "context")} == {"abc-123_x.y:z/+=@"}


def test_a_missing_id_gets_a_new_uuid4_hex(app: webtest.TestApp) -> None:
    response = app.get("/seen")
    assert HEX32.match(response.headers["X-Request-ID"])
    assert response.json["context"] == response.headers["X-Request-ID"]


def test_each_request_gets_its_own_id(app: webtest.TestApp) -> None:
    assert app.get("/seen").headers["X-Request-ID"] != app.get("/seen").headers["X-Request-ID"]


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("X-Correlation-ID", "corr-1"),
        ("Request-ID", "req-1"),
        ("X-Varnish", "12345"),
        ("X-Amzn-Trace-Id", "Root=1-67891233-abcdef012345678912345678"),
    ],
)
def test_the_other_standard_headers_are_read(app: webtest.TestApp, header: str, value: str) -> None:
    assert app.get("/seen", headers={header: value}).json["context"] == value


def test_x_varnish_and_amzn_keep_only_the_id_part(app: webtest.TestApp) -> None:
    assert app.get("/seen", headers={"X-Varnish": "111 222"}).json["context"] == "111"
    amzn = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
    assert (
        app.get("/seen", headers={"X-Amzn-Trace-Id": amzn}).json["context"] == amzn.split(";", maxsplit=1)[0]
    )


def test_x_request_id_wins_over_the_others(app: webtest.TestApp) -> None:
    response = app.get("/seen", headers={"X-Correlation-ID": "corr", "X-Request-ID": "main"})
    assert response.json["context"] == "main"


def test_a_configured_header_comes_first() -> None:
    app = make_app({"c2c.request_id_header": "X-My-Id"})
    response = app.get("/seen", headers={"X-Request-ID": "standard", "X-My-Id": "mine"})
    assert response.json["context"] == "mine"
    assert response.headers["X-Request-ID"] == "mine"


def test_an_invalid_header_name_setting_fails_at_start_up() -> None:
    with pytest.raises(config.ConfigError, match="C2C_REQUEST_ID_HEADER"):
        make_app({"c2c.request_id_header": "bad header"})


@pytest.mark.parametrize(
    "value", ["x" * 129, "abc\r\nInjected: yes", "has space", "quote'and<tag>", "ünïcode"], ids=repr
)
def test_an_unacceptable_id_is_replaced_and_warned_about_without_its_value(
    app: webtest.TestApp, value: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "c2cwsgiutils.request_tracking")
    # webtest refuses CR/LF in headers: put the raw value in the environ like a lax server would.
    response = app.get("/seen", extra_environ={"HTTP_X_REQUEST_ID": value})
    new_id = response.headers["X-Request-ID"]
    assert HEX32.match(new_id)
    assert response.json["context"] == new_id
    warnings = [r for r in caplog.records if r.name == "c2cwsgiutils.request_tracking"]
    assert len(warnings) == 1
    assert value not in warnings[0].getMessage()
    assert "X-Request-ID" in warnings[0].getMessage()
    assert new_id in warnings[0].getMessage()


def test_an_id_of_exactly_128_characters_is_accepted(app: webtest.TestApp) -> None:
    assert app.get("/seen", headers={"X-Request-ID": "a" * 128}).json["context"] == "a" * 128


def test_a_valid_traceparent_continues_the_trace(app: webtest.TestApp) -> None:
    seen = app.get("/seen", headers={"traceparent": TRACEPARENT, "tracestate": "vendor=value"}).json
    assert seen["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert seen["parent_span_id"] == "00f067aa0ba902b7"
    assert re.fullmatch(r"[0-9a-f]{16}", seen["span_id"])
    assert seen["span_id"] != "00f067aa0ba902b7"
    assert seen["tracestate"] == "vendor=value"
    assert seen["sampled"] is True


def test_an_invalid_traceparent_starts_a_new_trace(app: webtest.TestApp) -> None:
    seen = app.get(
        "/seen", headers={"traceparent": "00-nothex-00f067aa0ba902b7-01", "tracestate": "a=b"}
    ).json
    assert HEX32.match(seen["trace_id"])
    assert seen["parent_span_id"] == ""
    assert seen["tracestate"] == ""


def test_the_context_kind_is_web(app: webtest.TestApp) -> None:
    assert app.get("/seen").json["kind"] == "web"


def test_the_context_is_reset_after_the_request(app: webtest.TestApp) -> None:
    app.get("/seen")
    assert context.current() == context.EMPTY


def test_the_context_is_reset_after_an_error(app: webtest.TestApp) -> None:
    with pytest.raises(RuntimeError):
        app.get("/fail")
    assert context.current() == context.EMPTY


def test_log_lines_of_the_view_carry_the_request_id(
    app: webtest.TestApp, caplog: pytest.LogCaptureFixture
) -> None:
    from c2cwsgiutils.logging import ContextFilter

    caplog.handler.addFilter(ContextFilter())
    app.get("/seen", headers={"X-Request-ID": "logged-id"})
    assert [r.request_id for r in caplog.records if r.name == "tests.view"] == ["logged-id"]  # type: ignore[attr-defined]


def test_included_by_the_main_include() -> None:
    from c2cwsgiutils import pyramid

    assert "c2cwsgiutils.request_tracking" in pyramid.FEATURES


# ---- plain WSGI middleware -------------------------------------------------------------------


def _plain_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    body = json.dumps(
        {"context": context.current().request_id, "environ": environ["c2c.request_id"]}
    ).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("X-Request-ID", "from-the-app")])
    return [body]


def _streaming_app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    yield b"first "
    yield context.current().request_id.encode()


@pytest.fixture
def middleware() -> webtest.TestApp:
    return webtest.TestApp(RequestTrackingMiddleware(_plain_app, propagate=False))


def test_middleware_keeps_a_good_id(middleware: webtest.TestApp) -> None:
    response = middleware.get("/", headers={"X-Request-ID": "wsgi-1"})
    assert response.json == {"context": "wsgi-1", "environ": "wsgi-1"}
    assert response.headers.getall("X-Request-ID") == ["wsgi-1"]


def test_middleware_creates_a_missing_id(middleware: webtest.TestApp) -> None:
    response = middleware.get("/")
    assert HEX32.match(response.headers["X-Request-ID"])
    assert response.json["context"] == response.headers["X-Request-ID"]


def test_middleware_replaces_an_oversized_id(middleware: webtest.TestApp) -> None:
    response = middleware.get("/", headers={"X-Request-ID": "y" * 200})
    assert HEX32.match(response.json["context"])


def test_middleware_replaces_a_crlf_id(middleware: webtest.TestApp) -> None:
    response = middleware.get("/", extra_environ={"HTTP_X_REQUEST_ID": "a\r\nb"})
    assert HEX32.match(response.headers["X-Request-ID"])


def test_middleware_keeps_the_context_while_the_body_streams() -> None:
    app = webtest.TestApp(RequestTrackingMiddleware(_streaming_app, propagate=False))
    assert app.get("/", headers={"X-Request-ID": "streamed"}).text == "first streamed"
    assert context.current() == context.EMPTY


def test_middleware_around_pyramid_tween_keeps_one_id() -> None:
    inner = make_app().app
    app = webtest.TestApp(RequestTrackingMiddleware(inner, propagate=False))
    response = app.get("/seen")
    assert response.json["context"] == response.headers["X-Request-ID"]
    assert response.headers.getall("X-Request-ID") == [response.json["context"]]


def test_the_route_name_is_in_the_context_while_the_view_runs(app: webtest.TestApp) -> None:
    assert app.get("/seen").json["route"] == "seen"
