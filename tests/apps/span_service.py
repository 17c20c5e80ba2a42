"""A Pyramid service printing its span events as JSON lines on stdout (tests of client spans).

``GET /api/items/{id}`` answers ``{"id": ...}``; ``GET /call/{client}?url=...`` fetches ``url``
with ``requests``, ``urllib3`` or ``httpx`` and answers the callee's status.

Served by waitress: ``python -m waitress --port N tests.apps.span_service:app``.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

from pyramid.config import Configurator

from c2cwsgiutils.logging.record import record_to_dict


class _JsonLines(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        sys.stdout.write(json.dumps(record_to_dict(record), default=str) + "\n")
        sys.stdout.flush()


def _item(request: Any) -> dict[str, str]:
    return {"id": request.matchdict["id"]}


def _call(request: Any) -> dict[str, int]:
    url = request.params["url"]
    client = request.matchdict["client"]
    if client == "requests":
        import requests

        return {"status": requests.get(url, timeout=10).status_code}
    if client == "urllib3":
        import urllib3

        return {"status": urllib3.PoolManager(timeout=10).request("GET", url).status}
    import httpx

    with httpx.Client(timeout=10) as session:
        return {"status": session.get(url).status_code}


def _make_app() -> Any:
    logger = logging.getLogger("c2cwsgiutils.spans")
    logger.addHandler(_JsonLines())
    logger.setLevel(logging.INFO)
    with Configurator() as config:
        config.include("c2cwsgiutils.request_tracking")
        config.include("c2cwsgiutils.spans")
        config.add_route("item", "/api/items/{id}")
        config.add_view(_item, route_name="item", renderer="json")
        config.add_route("call", "/call/{client}")
        config.add_view(_call, route_name="call", renderer="json")
        return config.make_wsgi_app()


app = _make_app()
