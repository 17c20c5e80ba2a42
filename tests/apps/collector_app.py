"""A Pyramid service shipping its logs with a ``CollectorHandler`` configured from the environment.

``GET /items/{id}`` logs three lines, one of them in a span: five records with the two span
events (the request's last). Served by waitress: ``python -m waitress --port N
tests.apps.collector_app:app`` with ``C2C_COLLECTOR_URL`` (and the other ``C2C_COLLECTOR_*``) set.
"""

from __future__ import annotations

import logging
from typing import Any

from pyramid.config import Configurator
from pyramid.response import Response

from c2cwsgiutils import spans
from c2cwsgiutils.logging.collector_handler import CollectorHandler

RECORDS = 5


def _item(request: Any) -> Response:
    log = logging.getLogger("collector_app.views")
    log.info("item %s", request.matchdict["id"])
    with spans.span(".load"):
        log.info("loading")
    log.info("done")
    return Response("ok")


def _make_app() -> Any:
    root = logging.getLogger()
    root.addHandler(CollectorHandler(service="collector-app"))
    root.setLevel(logging.INFO)
    logging.getLogger("waitress").setLevel(logging.WARNING)
    with Configurator() as config:
        config.include("c2cwsgiutils.request_tracking")
        config.include("c2cwsgiutils.spans")
        config.add_route("item", "/items/{id}")
        config.add_view(_item, route_name="item")
        return config.make_wsgi_app()


app = _make_app()
