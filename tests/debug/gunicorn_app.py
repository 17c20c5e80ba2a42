"""A tiny Pyramid application for the tests that run a real gunicorn (settings come from the env)."""

from __future__ import annotations

import os
from typing import Any

from pyramid.config import Configurator


def whoami(request: Any) -> dict[str, int]:
    return {"pid": os.getpid()}


def build() -> Any:
    config = Configurator(settings={})
    config.include("c2cwsgiutils.broadcast")
    config.include("c2cwsgiutils.debug")
    config.add_route("whoami", "/whoami")
    config.add_view(whoami, route_name="whoami", renderer="json")
    return config.make_wsgi_app()


application = build()
