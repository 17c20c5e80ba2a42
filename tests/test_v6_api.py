"""The public names of c2cwsgiutils 6.1.10 that 7 keeps, and the 6.x entry points (paste filters,
the c2c:// loader, setup_process, renderers, Prometheus server)."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from pyramid.config import Configurator
from webtest import TestApp

from tests.helpers import free_port

# Every public name of 6.1.10 is checked by tests/compat6/test_names.py.


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


def test_redis_utils_pubsub_worker_thread_dispatches_until_stopped(redis_url: str, redis_prefix: str) -> None:
    import redis

    from c2cwsgiutils import redis_utils
    from tests.helpers import wait_for

    client = redis.Redis.from_url(redis_url)
    received: list[bytes] = []
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(**{f"{redis_prefix}chan": lambda message: received.append(message["data"])})
    thread = redis_utils.PubSubWorkerThread(pubsub, name="c2c-test-pubsub")
    thread.start()
    try:
        client.publish(f"{redis_prefix}chan", b"hello")
        wait_for(lambda: received == [b"hello"], message="the message dispatched")
    finally:
        thread.stop()
        thread.join(5)
        client.close()
    assert not thread.is_alive()
