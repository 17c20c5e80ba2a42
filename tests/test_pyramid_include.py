"""``config.include("c2cwsgiutils.pyramid")`` and the include of each feature alone."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from pyramid.config import Configurator
from webtest import TestApp

from c2cwsgiutils import ConfigError, admin
from c2cwsgiutils.pyramid import FEATURES


def _ping(request: Any) -> Any:
    return {"pong": True}


def make_app(settings: Mapping[str, Any] | None = None) -> TestApp:
    with Configurator(settings=dict(settings or {})) as config:
        config.include("c2cwsgiutils.pyramid")
        admin.add_admin_view(config, "test_ping", "ping", _ping, title="Ping (test)")
        return TestApp(config.make_wsgi_app())


def test_include_wires_the_json_errors() -> None:
    response = make_app().get("/unknown", status=404)
    assert response.content_type == "application/json"
    assert response.json["status"] == 404


@pytest.mark.parametrize("feature", FEATURES)
def test_each_feature_is_includable_alone(feature: str) -> None:
    with Configurator(settings={}) as config:
        config.include(feature)
        app = config.make_wsgi_app()
    assert callable(app)


def test_invalid_boolean_stops_the_configurator_with_one_line() -> None:
    with pytest.raises(ConfigError) as error, Configurator(settings={"c2c.development": "maybe"}) as config:
        config.include("c2cwsgiutils.pyramid")
    assert (
        str(error.value)
        == "C2C_DEVELOPMENT (ini: c2c.development) must be one of true/false/yes/no/on/off/1/0 (got 'maybe')"
    )


def test_invalid_boolean_in_the_environment_stops_the_configurator(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("C2C_DEVELOPMENT", "sometimes")
    with pytest.raises(ConfigError, match=r"^C2C_DEVELOPMENT .*\(got 'sometimes'\)$"):
        make_app()


def test_admin_view_is_under_the_default_base_path() -> None:
    app = make_app({"c2c.secret": "x"})
    assert app.get("/c2c/ping", headers={"X-API-Key": "x"}).json == {"pong": True}


def test_base_path_from_the_ini_moves_admin_views() -> None:
    app = make_app({"c2c.secret": "x", "c2c.base_path": "/admin"})
    assert app.get("/admin/ping", headers={"X-API-Key": "x"}).json == {"pong": True}
    app.get("/c2c/ping", headers={"X-API-Key": "x"}, status=404)


def test_environment_beats_the_ini(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("C2C_BASE_PATH", "/ops")
    app = make_app({"c2c.secret": "x", "c2c.base_path": "/admin"})
    assert app.get("/ops/ping", headers={"X-API-Key": "x"}).json == {"pong": True}
    app.get("/admin/ping", headers={"X-API-Key": "x"}, status=404)


def test_admin_view_without_the_secret_is_forbidden() -> None:
    response = make_app({"c2c.secret": "x"}).get("/c2c/ping", status=403)
    assert response.json["status"] == 403
