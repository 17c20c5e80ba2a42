"""The collector's web UI: static HTML, CSS and JavaScript modules served at ``/`` and ``/ui/``.

The page holds no data: it reads the ``/api/v1`` API from the browser (sending the token the
user typed, if the collector asks for one). Every answer carries a strict Content-Security-Policy
(scripts, styles and connections only from the collector itself, no inline code), so a log
message that contains markup can never run in the page.
"""

from __future__ import annotations

import hashlib
from importlib import resources
from typing import Any

__all__ = ["CSP", "includeme"]

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_TYPES = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
}


def _load() -> dict[str, tuple[bytes, str, str]]:
    """Every static file: name -> (body, content type, ETag); read once at include time."""
    files: dict[str, tuple[bytes, str, str]] = {}
    root = resources.files("c2cwsgiutils.collector.http") / "static"
    for entry in root.iterdir():
        name = entry.name
        suffix = name[name.rfind(".") :] if "." in name else ""
        if entry.is_file() and suffix in _TYPES:
            body = entry.read_bytes()
            etag = hashlib.sha256(body).hexdigest()[:20]
            files[name] = (body, _TYPES[suffix], etag)
    return files


def _response(request: Any, body: bytes, content_type: str, etag: str) -> Any:
    from pyramid.response import Response

    response = Response(content_type=content_type, charset="utf-8")
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Cache-Control"] = "no-cache"
    response.headers["ETag"] = f'"{etag}"'
    if request.headers.get("If-None-Match") == f'"{etag}"':
        response.status = 304
        return response
    if request.method != "HEAD":
        response.body = body
    else:
        response.content_length = len(body)
    return response


def includeme(config: Any) -> None:
    """Add ``/`` (the page), ``/requests`` (the requests page) and ``/ui/{name}`` (scripts, styles)."""
    from c2cwsgiutils.collector.http.api import method_not_allowed

    files = _load()

    def index(request: Any) -> Any:
        """GET / : the single page."""
        if request.method not in ("GET", "HEAD"):
            return method_not_allowed(request, "GET, HEAD")
        return _response(request, *files["index.html"])

    def requests_page(request: Any) -> Any:
        """GET /requests : the requests page (recent and slowest requests, per-route percentiles)."""
        if request.method not in ("GET", "HEAD"):
            return method_not_allowed(request, "GET, HEAD")
        return _response(request, *files["requests.html"])

    def asset(request: Any) -> Any:
        """GET /ui/{name}: one static file of the page."""
        if request.method not in ("GET", "HEAD"):
            return method_not_allowed(request, "GET, HEAD")
        found = files.get(request.matchdict["name"])
        if found is None:
            from c2cwsgiutils.collector.http.api import not_found

            return not_found(request)
        return _response(request, *found)

    config.add_route("c2c_collector_ui", "/")
    config.add_view(index, route_name="c2c_collector_ui")
    config.add_route("c2c_collector_ui_requests", "/requests")
    config.add_view(requests_page, route_name="c2c_collector_ui_requests")
    config.add_route("c2c_collector_ui_asset", "/ui/{name}")
    config.add_view(asset, route_name="c2c_collector_ui_asset")
