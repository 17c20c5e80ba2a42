"""A small Pyramid application with the metrics feature, and a clean backend state per test."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import webtest

from c2cwsgiutils import stats


@pytest.fixture(autouse=True)
def _reset_stats() -> Iterator[None]:
    yield
    stats.shutdown()


def build_app(settings: dict[str, Any]) -> Any:
    """A WSGI app with ``/hello`` (JSON), ``/boom`` (raises), ``/sleep`` (50 ms, no CPU) and ``/plain``."""
    from pyramid.config import Configurator
    from pyramid.response import Response

    config = Configurator(settings=settings)
    config.include("c2cwsgiutils.stats")
    config.add_route("hello", "/hello")
    config.add_view(lambda request: {"hello": "world"}, route_name="hello", renderer="json")
    config.add_route("boom", "/boom")

    def boom(request: Any) -> Any:
        raise RuntimeError("boom")

    config.add_view(boom, route_name="boom")

    def error_view(exc: Exception, request: Any) -> Any:
        return Response("failed", status=500)

    config.add_view(error_view, context=RuntimeError)
    config.add_route("sleep", "/sleep")

    def sleep(request: Any) -> Any:
        time.sleep(0.05)
        return Response("slept")

    config.add_view(sleep, route_name="sleep")
    config.add_route("plain", "/plain")
    config.add_view(lambda request: Response("plain"), route_name="plain")
    return config.make_wsgi_app()


@pytest.fixture
def make_app() -> Callable[[dict[str, Any]], webtest.TestApp]:
    def make(settings: dict[str, Any]) -> webtest.TestApp:
        return webtest.TestApp(build_app(settings))

    return make
