"""A tiny Pyramid application for the ``c2cwsgiutils_run`` tests (``use = call:...`` in an ini)."""

from __future__ import annotations

from typing import Any

from pyramid.config import Configurator


def _boom(request: Any) -> Any:
    raise RuntimeError("sample failure")


def _echo(request: Any) -> Any:
    return {"length": len(request.body)}


def main(global_config: dict[str, str], **settings: str) -> Any:
    with Configurator(settings=settings) as config:
        config.include("c2cwsgiutils.pyramid")
        config.add_route("boom", "/boom")
        config.add_view(_boom, route_name="boom", renderer="json")
        config.add_route("echo", "/echo")
        config.add_view(_echo, route_name="echo", renderer="json")
        return config.make_wsgi_app()
