"""CORS services: real preflight and simple CORS requests through a Pyramid application (WebTest)."""

from __future__ import annotations

from typing import Any

import pytest
import webtest
from pyramid.config import Configurator

from c2cwsgiutils import ConfigError, services

ORIGIN = "https://app.example.com"


@pytest.fixture(autouse=True)
def _no_cors_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("C2C_CORS_ORIGINS", raising=False)
    monkeypatch.delenv("C2C_CORS_MAX_AGE", raising=False)


def make_app(service: Any, **settings: Any) -> webtest.TestApp:
    config = Configurator(settings=settings)
    config.include("c2cwsgiutils.services")
    config.add_cornice_service(service)
    return webtest.TestApp(config.make_wsgi_app())


def hello_service(name: str = "hello", **kwargs: Any) -> Any:
    service = services.create(name, f"/{name}", **kwargs)

    @service.get()  # type: ignore[untyped-decorator]  # cornice is untyped
    def hello_get(request: Any) -> dict[str, bool]:
        return {"hello": True}

    @service.post()  # type: ignore[untyped-decorator]  # cornice is untyped
    def hello_post(request: Any) -> dict[str, bool]:
        return {"posted": True}

    return service


def preflight(app: webtest.TestApp, path: str, method: str = "POST", origin: str = ORIGIN, **kw: Any) -> Any:
    return app.options(path, headers={"Origin": origin, "Access-Control-Request-Method": method}, **kw)


def test_preflight_allows_the_service_methods_for_any_origin_by_default() -> None:
    app = make_app(hello_service())
    response = preflight(app, "/hello")
    assert response.status_int == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert set(response.headers["Access-Control-Allow-Methods"].split(",")) >= {"GET", "POST"}
    assert "Access-Control-Allow-Credentials" not in response.headers


def test_preflight_answer_is_cacheable() -> None:
    app = make_app(hello_service())
    response = preflight(app, "/hello")
    assert response.headers["Access-Control-Max-Age"] == "86400"
    assert response.cache_control.public
    assert response.cache_control.max_age == 86400
    assert not response.cache_control.no_cache
    assert not response.cache_control.no_store
    vary = {item.strip() for item in response.headers["Vary"].split(",")}
    assert {"Origin", "Access-Control-Request-Method", "Access-Control-Request-Headers"} <= vary


def test_max_age_is_a_setting() -> None:
    app = make_app(hello_service(), **{"c2c.cors_max_age": "600"})
    response = preflight(app, "/hello")
    assert response.headers["Access-Control-Max-Age"] == "600"
    assert response.cache_control.max_age == 600


def test_preflight_for_a_method_the_service_lacks_is_refused_and_not_cached() -> None:
    app = make_app(hello_service())
    response = preflight(app, "/hello", method="DELETE", status=400)
    assert "Method not allowed" in response.text
    assert not response.cache_control.public
    assert not response.cache_control.max_age  # none, or 0 (services are not cached by default)


def test_answers_are_not_cached_by_default_as_in_6x() -> None:
    app = make_app(hello_service())
    cache_control = app.get("/hello").cache_control
    assert cache_control.max_age == 0
    assert cache_control.no_cache


def test_credentials_echo_the_origin_and_allow_credentials() -> None:
    app = make_app(hello_service(cors_credentials=True))
    response = preflight(app, "/hello")
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
    get = app.get("/hello", headers={"Origin": ORIGIN})
    assert get.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert get.headers["Access-Control-Allow-Credentials"] == "true"
    assert "Origin" in get.headers["Vary"]


def test_simple_request_gets_the_cors_answer() -> None:
    app = make_app(hello_service())
    response = app.get("/hello", headers={"Origin": ORIGIN})
    assert response.json == {"hello": True}
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert not response.cache_control.public


def test_origins_come_from_the_settings() -> None:
    app = make_app(hello_service(), **{"c2c.cors_origins": "https://*.example.com, https://other.org"})
    assert preflight(app, "/hello").headers["Access-Control-Allow-Origin"] == ORIGIN
    assert preflight(app, "/hello", origin="https://other.org").status_int == 200
    response = preflight(app, "/hello", origin="https://evil.test", status=400)
    assert "Access-Control-Allow-Origin" not in response.headers
    app.get("/hello", headers={"Origin": "https://evil.test"}, status=400)


def test_origins_env_var_beats_the_ini_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("C2C_CORS_ORIGINS", "https://env.example.org")
    app = make_app(hello_service(), **{"c2c.cors_origins": ORIGIN})
    preflight(app, "/hello", status=400)
    preflight(app, "/hello", origin="https://env.example.org", status=200)


def test_origins_given_to_create_win_over_the_settings() -> None:
    service = hello_service(cors_origins=("https://only.example.net",))
    app = make_app(service, **{"c2c.cors_origins": ORIGIN})
    preflight(app, "/hello", status=400)
    preflight(app, "/hello", origin="https://only.example.net", status=200)


def test_an_invalid_max_age_stops_start_up() -> None:
    with pytest.raises(ConfigError, match="C2C_CORS_MAX_AGE"):
        make_app(hello_service(), **{"c2c.cors_max_age": "a day"})


def test_config_scan_finds_a_service_created_at_module_level() -> None:
    config = Configurator(settings={})
    config.include("c2cwsgiutils.services")
    config.scan("tests.services_module")
    app = webtest.TestApp(config.make_wsgi_app())
    assert app.get("/scanned").json == {"scanned": True}
    assert preflight(app, "/scanned", method="GET").headers["Access-Control-Allow-Origin"] == "*"


def failing_service(exc: Exception) -> Any:
    service = services.create("failing", "/failing")

    @service.get()  # type: ignore[untyped-decorator]  # cornice is untyped
    def failing_get(request: Any) -> Any:
        raise exc

    return service


def test_an_http_error_of_a_service_keeps_its_cors_headers() -> None:
    from pyramid.httpexceptions import HTTPConflict

    app = make_app(failing_service(HTTPConflict()))
    response = app.get("/failing", headers={"Origin": ORIGIN}, status=409)
    assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_an_error_rendered_by_the_application_keeps_its_cors_headers() -> None:
    config = Configurator(settings={})
    config.include("c2cwsgiutils.pyramid")

    def internal_error(exc: Exception, request: Any) -> dict[str, str]:
        request.response.status_int = 500
        return {"error": str(exc)}

    # An application-wide error view (as c2cwsgiutils.errors adds) does not conflict with cornice.
    config.add_exception_view(internal_error, Exception, renderer="json")
    config.add_cornice_service(failing_service(RuntimeError("broken")))
    app = webtest.TestApp(config.make_wsgi_app())
    response = app.get("/failing", headers={"Origin": ORIGIN}, status=500)
    assert response.json == {"error": "broken"}
    assert response.headers["Access-Control-Allow-Origin"] == "*"


def cornice_wrapped(request: Any) -> dict[str, bool]:
    return {"wrapped": hasattr(request, "errors")}  # cornice's request subscriber adds request.errors


def plain_app(with_service: bool) -> webtest.TestApp:
    config = Configurator(settings={})
    config.include("c2cwsgiutils.services")
    config.add_route("plain", "/plain")
    config.add_view(cornice_wrapped, route_name="plain", renderer="json")
    if with_service:
        config.add_cornice_service(hello_service())
    return webtest.TestApp(config.make_wsgi_app())


def test_without_services_cornice_costs_nothing_per_request() -> None:
    assert plain_app(with_service=False).get("/plain").json == {"wrapped": False}


def test_the_first_service_includes_cornice() -> None:
    app = plain_app(with_service=True)
    assert app.get("/plain").json == {"wrapped": True}
    assert app.get("/hello").json == {"hello": True}
