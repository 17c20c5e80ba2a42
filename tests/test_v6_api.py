"""The public names of c2cwsgiutils 6.1.10 that 7 keeps, and the 6.x entry points (paste filters,
the c2c:// loader, setup_process, renderers, Prometheus server)."""

from __future__ import annotations

import importlib
import json
import urllib.request
import warnings
from pathlib import Path
from typing import Any

import pytest
from pyramid.config import Configurator
from webtest import TestApp

from tests.helpers import free_port

# module:name of 6.1.10 (from its wheel) that resolve here, working or as a warning alias.
NAMES_6X = [
    "c2cwsgiutils:get_config_defaults",
    "c2cwsgiutils:get_logconfig_dict",
    "c2cwsgiutils:get_paste_config",
    "c2cwsgiutils.acceptance:retry",
    "c2cwsgiutils.acceptance.connection:COLON_SPLIT_RE",
    "c2cwsgiutils.acceptance.connection:CacheExpected",
    "c2cwsgiutils.acceptance.connection:Connection",
    "c2cwsgiutils.acceptance.connection:check_response",
    "c2cwsgiutils.acceptance.utils:wait_url",
    "c2cwsgiutils.acceptance.utils:retry_timeout",
    "c2cwsgiutils.acceptance.utils:approx",
    "c2cwsgiutils.auth:SECRET_PROP",
    "c2cwsgiutils.auth:SECRET_ENV",
    "c2cwsgiutils.auth:GITHUB_AUTH_URL_PROP",
    "c2cwsgiutils.auth:GITHUB_AUTH_URL_ENV",
    "c2cwsgiutils.auth:GITHUB_TOKEN_URL_PROP",
    "c2cwsgiutils.auth:GITHUB_TOKEN_URL_ENV",
    "c2cwsgiutils.auth:GITHUB_USER_URL_PROP",
    "c2cwsgiutils.auth:GITHUB_USER_URL_ENV",
    "c2cwsgiutils.auth:GITHUB_CLIENT_ID_PROP",
    "c2cwsgiutils.auth:GITHUB_CLIENT_ID_ENV",
    "c2cwsgiutils.auth:GITHUB_CLIENT_SECRET_PROP",
    "c2cwsgiutils.auth:GITHUB_CLIENT_SECRET_ENV",
    "c2cwsgiutils.auth:GITHUB_SCOPE_PROP",
    "c2cwsgiutils.auth:GITHUB_SCOPE_ENV",
    "c2cwsgiutils.auth:GITHUB_SCOPE_DEFAULT",
    "c2cwsgiutils.auth:GITHUB_AUTH_COOKIE_PROP",
    "c2cwsgiutils.auth:GITHUB_AUTH_COOKIE_ENV",
    "c2cwsgiutils.auth:GITHUB_AUTH_SECRET_PROP",
    "c2cwsgiutils.auth:GITHUB_AUTH_SECRET_ENV",
    "c2cwsgiutils.auth:GITHUB_AUTH_PROXY_URL_PROP",
    "c2cwsgiutils.auth:GITHUB_AUTH_PROXY_URL_ENV",
    "c2cwsgiutils.auth:USE_SESSION_PROP",
    "c2cwsgiutils.auth:USE_SESSION_ENV",
    "c2cwsgiutils.auth:AuthConfig",
    "c2cwsgiutils.auth:get_expected_secret",
    "c2cwsgiutils.auth:UserDetails",
    "c2cwsgiutils.auth:is_auth_user",
    "c2cwsgiutils.auth:is_auth",
    "c2cwsgiutils.auth:auth_view",
    "c2cwsgiutils.auth:AuthenticationType",
    "c2cwsgiutils.auth:auth_type",
    "c2cwsgiutils.auth:check_access",
    "c2cwsgiutils.auth:check_access_config",
    "c2cwsgiutils.auth:is_enabled",
    "c2cwsgiutils.broadcast:init",
    "c2cwsgiutils.broadcast:includeme",
    "c2cwsgiutils.broadcast:cleanup",
    "c2cwsgiutils.broadcast:subscribe",
    "c2cwsgiutils.broadcast:unsubscribe",
    "c2cwsgiutils.broadcast:broadcast",
    "c2cwsgiutils.broadcast:decorator",
    "c2cwsgiutils.client_info:SEP_RE",
    "c2cwsgiutils.client_info:Filter",
    "c2cwsgiutils.client_info:filter_factory",
    "c2cwsgiutils.config_utils:get_base_path",
    "c2cwsgiutils.config_utils:env_or_config",
    "c2cwsgiutils.config_utils:env_or_settings",
    "c2cwsgiutils.config_utils:config_bool",
    "c2cwsgiutils.db:FORCE_READONLY",
    "c2cwsgiutils.db:setup_session",
    "c2cwsgiutils.db:create_session",
    "c2cwsgiutils.db:SessionFactory",
    "c2cwsgiutils.db:get_engine",
    "c2cwsgiutils.db:get_session_factory",
    "c2cwsgiutils.db:get_tm_session",
    "c2cwsgiutils.db:get_tm_session_pyramid",
    "c2cwsgiutils.db:init",
    "c2cwsgiutils.db_maintenance_view:install_subscriber",
    "c2cwsgiutils.db_maintenance_view:includeme",
    "c2cwsgiutils.debug:CONFIG_KEY",
    "c2cwsgiutils.debug:ENV_KEY",
    "c2cwsgiutils.debug:get_size",
    "c2cwsgiutils.debug:dump_memory_maps",
    "c2cwsgiutils.debug:init",
    "c2cwsgiutils.debug:includeme",
    "c2cwsgiutils.debug:init_daemon",
    "c2cwsgiutils.debug.utils:get_size",
    "c2cwsgiutils.debug.utils:dump_memory_maps",
    "c2cwsgiutils.errors:init",
    "c2cwsgiutils.errors:includeme",
    "c2cwsgiutils.health_check:EngineType",
    "c2cwsgiutils.health_check:JsonCheckException",
    "c2cwsgiutils.health_check:HealthCheck",
    "c2cwsgiutils.index:init",
    "c2cwsgiutils.index:includeme",
    "c2cwsgiutils.loader:Loader",
    "c2cwsgiutils.logging_view:install_subscriber",
    "c2cwsgiutils.logging_view:includeme",
    "c2cwsgiutils.models_graph:generate_model_graph",
    "c2cwsgiutils.pretty_json:init",
    "c2cwsgiutils.pretty_json:includeme",
    "c2cwsgiutils.profiler:Profile",
    "c2cwsgiutils.prometheus:start",
    "c2cwsgiutils.prometheus:includeme",
    "c2cwsgiutils.prometheus:build_metric_name",
    "c2cwsgiutils.prometheus:cleanup",
    "c2cwsgiutils.pyramid:includeme",
    "c2cwsgiutils.pyramid_logging:PyramidCeeSysLogHandler",
    "c2cwsgiutils.pyramid_logging:JsonLogHandler",
    "c2cwsgiutils.redis_stats:init",
    "c2cwsgiutils.redis_stats:includeme",
    "c2cwsgiutils.redis_utils:REDIS_URL_KEY",
    "c2cwsgiutils.redis_utils:REDIS_SENTINELS_KEY",
    "c2cwsgiutils.redis_utils:REDIS_SERVICENAME_KEY",
    "c2cwsgiutils.redis_utils:REDIS_URL_KEY_PROP",
    "c2cwsgiutils.redis_utils:REDIS_SENTINELS_KEY_PROP",
    "c2cwsgiutils.redis_utils:REDIS_SERVICENAME_KEY_PROP",
    "c2cwsgiutils.redis_utils:cleanup",
    "c2cwsgiutils.redis_utils:get",
    "c2cwsgiutils.request_tracking:init",
    "c2cwsgiutils.request_tracking:includeme",
    "c2cwsgiutils.scripts.genversion:deprecated",
    "c2cwsgiutils.scripts.genversion:main",
    "c2cwsgiutils.scripts.stats_db:main",
    "c2cwsgiutils.sentry:init",
    "c2cwsgiutils.sentry:includeme",
    "c2cwsgiutils.sentry:capture_exceptions",
    "c2cwsgiutils.sentry:filter_wsgi_app",
    "c2cwsgiutils.sentry:filter_factory",
    "c2cwsgiutils.services:create",
    "c2cwsgiutils.setup_process:fill_arguments",
    "c2cwsgiutils.setup_process:init",
    "c2cwsgiutils.setup_process:init_logging",
    "c2cwsgiutils.setup_process:PyramidEnv",
    "c2cwsgiutils.setup_process:bootstrap_application_from_options",
    "c2cwsgiutils.setup_process:bootstrap_application",
    "c2cwsgiutils.sql_profiler:init",
    "c2cwsgiutils.sql_profiler:includeme",
    "c2cwsgiutils.stats_pyramid:init",
    "c2cwsgiutils.stats_pyramid:includeme",
    "c2cwsgiutils.stats_pyramid:init_db_spy",
    "c2cwsgiutils.version:init",
    "c2cwsgiutils.version:includeme",
    "c2cwsgiutils.version:get_version",
]


@pytest.mark.parametrize("spec", NAMES_6X)
def test_a_6x_name_resolves(spec: str) -> None:
    module, name = spec.split(":")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        assert getattr(importlib.import_module(module), name) is not None


def test_an_alias_warns_naming_the_new_spelling() -> None:
    import c2cwsgiutils.sql_profiler

    with pytest.warns(DeprecationWarning, match=r'use config.include\("c2cwsgiutils.sql.profiler"\)'):
        c2cwsgiutils.sql_profiler.includeme(Configurator(settings={}))


PIPELINE_INI = """\
[app:app]
use = call:tests.test_v6_api:make_echo_app

[pipeline:main]
pipeline = egg:c2cwsgiutils#client_info egg:c2cwsgiutils#sentry app
"""


def make_echo_app(global_config: Any, **settings: Any) -> Any:
    def echo(request: Any) -> Any:
        return {"remote_addr": request.remote_addr, "host": request.host, "scheme": request.scheme}

    with Configurator(settings=settings) as config:
        config.include("c2cwsgiutils.pyramid")
        config.add_route("echo", "/echo")
        config.add_view(echo, route_name="echo", renderer="fast_json")
        return config.make_wsgi_app()


def _pipeline(tmp_path: Path) -> TestApp:
    from c2cwsgiutils import paste_config

    ini = tmp_path / "production.ini"
    ini.write_text(PIPELINE_INI)
    return TestApp(paste_config.get_app(ini))


def test_client_info_filter_applies_x_forwarded_headers(tmp_path: Path) -> None:
    headers = {
        "X-Forwarded-For": "10.0.0.1, 10.0.0.2",
        "X-Forwarded-Host": "public.example",
        "X-Forwarded-Proto": "https",
    }
    assert _pipeline(tmp_path).get("/echo", headers=headers).json == {
        "remote_addr": "10.0.0.1",
        "host": "public.example",
        "scheme": "https",
    }


def test_client_info_filter_prefers_forwarded(tmp_path: Path) -> None:
    headers = {
        "Forwarded": "for=10.1.1.1;host=fw.example;proto=https, for=10.2.2.2",
        "X-Forwarded-For": "10.9.9.9",
    }
    assert _pipeline(tmp_path).get("/echo", headers=headers).json == {
        "remote_addr": "10.1.1.1",
        "host": "fw.example",
        "scheme": "https",
    }


def test_client_info_force_settings_win(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("C2CWSGIUTILS_FORCE_PROTO", "https")
    monkeypatch.setenv("C2CWSGIUTILS_FORCE_REMOTE_ADDR", "192.0.2.1")
    answer = _pipeline(tmp_path).get("/echo", headers={"X-Forwarded-For": "10.0.0.1"}).json
    assert (answer["scheme"], answer["remote_addr"]) == ("https", "192.0.2.1")


def test_bootstrap_with_the_c2c_loader_interpolates_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from c2cwsgiutils import setup_process

    ini = tmp_path / "production.ini"
    ini.write_text("[app:main]\nuse = call:tests.test_v6_api:make_echo_app\nmy.setting = %(MY_VALUE)s\n")
    monkeypatch.setenv("MY_VALUE", "from 100% env")
    env = setup_process.bootstrap_application(f"c2c://{ini}")
    try:
        assert env["registry"].settings["my.setting"] == "from 100% env"
    finally:
        env["closer"]()


def test_fill_arguments_and_bootstrap_from_options(tmp_path: Path) -> None:
    import argparse

    from c2cwsgiutils import setup_process

    ini = tmp_path / "production.ini"
    ini.write_text("[app:main]\nuse = call:tests.test_v6_api:make_echo_app\nx = %(var)s\n")
    parser = argparse.ArgumentParser()
    setup_process.fill_arguments(parser)
    env = setup_process.bootstrap_application_from_options(parser.parse_args([f"c2c://{ini}", "var=42"]))
    try:
        assert env["registry"].settings["x"] == "42"
    finally:
        env["closer"]()


def test_pretty_json_renderers_follow_the_settings() -> None:
    def view(request: Any) -> Any:
        return {"b": 1, "a": [1]}

    with Configurator(settings={"c2c.json.pretty_print": "true", "c2c.json.sort_keys": "true"}) as config:
        config.include("c2cwsgiutils.pretty_json")
        for renderer in ("json", "fast_json"):
            config.add_route(renderer, f"/{renderer}")
            config.add_view(view, route_name=renderer, renderer=renderer)
        app = TestApp(config.make_wsgi_app())
    expected = json.dumps({"a": [1], "b": 1}, indent=2, sort_keys=True)
    assert app.get("/json").text == expected
    assert app.get("/fast_json").text == expected


def test_prometheus_start_serves_the_metrics_on_its_port(monkeypatch: pytest.MonkeyPatch) -> None:
    from c2cwsgiutils import prometheus

    port = free_port()
    monkeypatch.setenv("C2C_PROMETHEUS_PORT", str(port))
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    prometheus.start()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        assert response.status == 200
        assert b"python_info" in response.read()
    assert prometheus.build_metric_name("x") == "c2cwsgiutils_x"


def test_sentry_capture_exceptions_lets_the_exception_through() -> None:
    from c2cwsgiutils import sentry

    with pytest.raises(ValueError, match="boom"), sentry.capture_exceptions():
        raise ValueError("boom")


def test_6x_auth_functions_use_the_secret() -> None:
    from c2cwsgiutils import auth

    def view(request: Any) -> Any:
        auth.auth_view(request)
        return {"auth": auth.is_auth(request), "expected": auth.get_expected_secret(request) == "s"}

    with Configurator(settings={"c2c.secret": "s"}) as config:
        config.add_route("v", "/v")
        config.add_view(view, route_name="v", renderer="json")
        app = TestApp(config.make_wsgi_app())
    assert app.get("/v", {"secret": "s"}).json == {"auth": True, "expected": True}
    app.get("/v", status=403)
    assert auth.auth_type({"c2c.secret": "s"}) is auth.AuthenticationType.SECRET


def test_redis_utils_get_gives_the_clients(redis_url: str) -> None:
    from c2cwsgiutils import redis_utils

    redis_utils.cleanup()
    master, slave, sentinel = redis_utils.get({"c2c.redis_url": redis_url})
    try:
        assert master.ping() is True
        assert slave is master
        assert sentinel is None
    finally:
        master.close()
        redis_utils.cleanup()
