"""The test service the W3C Trace Context harness drives (``w3c/trace-context``, ``test/``).

``POST /test`` takes a JSON list of ``{"url": ..., "arguments": [...]}`` and, for each item,
POSTs ``arguments`` as JSON to ``url``; the propagation of ``traceparent``/``tracestate`` to
those calls is ours (c2cwsgiutils.outgoing), not this module's. Chosen by the environment:

- ``W3C_STACK``: ``pyramid`` (``config.include("c2cwsgiutils.pyramid")``) or ``wsgi`` (a bare
  WSGI app inside ``RequestTrackingMiddleware``);
- ``W3C_CLIENT``: ``requests``, ``urllib3`` or ``httpx`` for the calls.

Served by waitress: ``python -m waitress --port N tests.apps.trace_context_service:app``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from typing import Any

STACK = os.environ.get("W3C_STACK", "pyramid")
CLIENT = os.environ.get("W3C_CLIENT", "requests")


def _poster() -> Callable[[str, bytes], None]:
    headers = {"Content-Type": "application/json"}
    if CLIENT == "requests":
        import requests

        session = requests.Session()
        return lambda url, body: session.post(url, data=body, headers=headers, timeout=10).close()
    if CLIENT == "urllib3":
        import urllib3

        pool = urllib3.PoolManager(timeout=10)
        return lambda url, body: pool.request("POST", url, body=body, headers=headers).release_conn()
    if CLIENT == "httpx":
        import httpx

        client = httpx.Client(timeout=10)
        return lambda url, body: client.post(url, content=body, headers=headers).close()
    raise ValueError(f"W3C_CLIENT must be requests, urllib3 or httpx (got {CLIENT!r})")


_post = _poster()


def call_all(body: bytes) -> None:
    """POST each item's ``arguments`` to its ``url``, in order."""
    for item in json.loads(body or b"[]"):
        _post(item["url"], json.dumps(item["arguments"]).encode())


def _pyramid_view(request: Any) -> Any:
    call_all(request.body)
    return {}


def _make_pyramid_app() -> Any:
    from pyramid.config import Configurator

    with Configurator(settings={}) as configurator:
        configurator.include("c2cwsgiutils.pyramid")
        configurator.add_route("test", "/test", request_method="POST")
        configurator.add_view(_pyramid_view, route_name="test", renderer="json")
        return configurator.make_wsgi_app()


def _bare_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    call_all(environ["wsgi.input"].read(length))
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", "2")])
    return [b"{}"]


def _make_wsgi_app() -> Any:
    from c2cwsgiutils.request_tracking import RequestTrackingMiddleware

    return RequestTrackingMiddleware(_bare_app)


app = _make_pyramid_app() if STACK == "pyramid" else _make_wsgi_app()
