"""A tiny Pyramid app for tests run under gunicorn: the toolkit plus a route telling this worker's
pid and the level of a logger in it."""

from __future__ import annotations

import logging
import os
from typing import Any

from pyramid.config import Configurator


def whoami(request: Any) -> dict[str, Any]:
    name = request.params.get("name", "")
    return {"pid": os.getpid(), "level": logging.getLevelName(logging.getLogger(name).getEffectiveLevel())}


def make_app() -> Any:
    configurator = Configurator(settings={})
    configurator.include("c2cwsgiutils.request_tracking")
    configurator.include("c2cwsgiutils.logging.level_view")
    configurator.add_route("whoami", "/whoami")
    configurator.add_view(whoami, route_name="whoami", renderer="json")
    return configurator.make_wsgi_app()


app = make_app()
