"""JSON error responses: ``config.include("c2cwsgiutils.errors")``.

Every exception that escapes a view becomes a JSON response::

    {"status": 404, "message": "...", "request_id": "4f1c..."}

HTTP errors keep their status (and headers such as ``Allow``); redirects and other non-error
HTTP exceptions are returned unchanged; anything else is a 500 whose message says nothing about
the failure. The traceback (``stacktrace``, a string) and the exception's message are added only
in development mode (``C2C_DEVELOPMENT``, or 6.x's ``DEVELOPMENT``) or when the request carries the
admin secret. As in 6.x, a database ``IntegrityError`` or ``DataError`` (a duplicate key, text
given for a number ...) is the client's mistake: a 400 whose message is the database's first line,
without the SQL statement. Error answers are never cached (``no-cache, no-store``) and carry the
CORS headers the request's origin would get from the service it called (``C2C_CORS_ORIGINS``
elsewhere), so a browser can read them. Unexpected errors are logged
once, with their traceback, on the ``c2cwsgiutils.errors`` logger; client errors are logged at
INFO (404 at DEBUG); a client that disconnects while sending its request is logged at INFO and
answered 400. ``HEAD`` requests get the status and headers without a body.

A query string that is not UTF-8 once percent-decoded (``?x=%FF``) is answered 400 with a message
before any view runs (:func:`query_string_tween_factory`): WebOb raises ``UnicodeDecodeError``
when a view reads ``request.params``, which would be a 500.
"""

from __future__ import annotations

import logging
import traceback
from typing import TYPE_CHECKING, Any

from c2cwsgiutils import auth, config, context
from c2cwsgiutils._deprecated import init_alias

if TYPE_CHECKING:
    from pyramid.request import Request
    from pyramid.response import Response

__all__ = [
    "database_error_view",
    "exception_view",
    "http_exception_view",
    "includeme",
    "init",
    "is_client_disconnect",
    "query_string_tween_factory",
]

LOG = logging.getLogger(__name__)

# Exception classes raised when a client goes away while the body is read (webob, gunicorn,
# waitress, Django-style servers). Matched by name: none of these libraries is a dependency.
_DISCONNECT_NAMES = frozenset(
    ("DisconnectionError", "ClientDisconnected", "NoMoreData", "UnreadablePostError")
)
# An OSError raised from these modules happened while reading the request from the client.
_INPUT_MODULES = ("webob.request", "gunicorn.http", "waitress", "wsgiref", "werkzeug.wsgi")
# Headers of an HTTP exception that do not describe its JSON replacement.
_DROPPED_HEADERS = frozenset(("content-type", "content-length"))


def is_client_disconnect(error: BaseException) -> bool:
    """Whether ``error`` means that the client went away while sending its request."""
    if type(error).__name__ in _DISCONNECT_NAMES:
        return True
    if not isinstance(error, OSError):
        return False
    frame_tb = error.__traceback__
    while frame_tb is not None:
        module = frame_tb.tb_frame.f_globals.get("__name__", "")
        if module.startswith(_INPUT_MODULES):
            return True
        frame_tb = frame_tb.tb_next
    return False


def _show_details(request: Request) -> bool:
    if config.core(request.registry).development:
        return True
    try:
        return auth.is_authenticated(request)
    except Exception:  # a broken query string or cookie must not turn a 4xx into a 500
        return False


def _json_response(request: Request, status: int, message: str, error: BaseException | None) -> Response:
    from pyramid.response import Response

    body: dict[str, Any] = {
        "status": status,
        "message": message,
        "request_id": context.current().request_id or None,
    }
    if error is not None and _show_details(request):
        body["stacktrace"] = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    response = Response(status=status, json_body=body)
    response.cache_control.no_store = True
    response.cache_control.no_cache = True
    if request.headers.get("Origin"):
        _add_cors(request, response)
    if request.method == "HEAD":
        response.body = b""
    return response


def _add_cors(request: Request, response: Response) -> None:
    """The CORS headers of the service the request matched, else those C2C_CORS_ORIGINS allows."""
    services = getattr(request.registry, "cornice_services", None) or {}
    route = getattr(request, "matched_route", None)
    service = services.get(route.pattern) if route is not None else None
    try:
        if service is not None:
            from cornice import cors

            request.info["cors_checked"] = False
            cors.apply_cors_post_request(service, request, response)
            return
        import fnmatch

        from c2cwsgiutils import services as c2c_services

        origin = request.headers["Origin"]
        allowed = c2c_services.CORS_ORIGINS.get(request.registry.settings)
        if "*" in allowed:
            response.headers["Access-Control-Allow-Origin"] = "*"
        elif any(fnmatch.fnmatchcase(origin, pattern) for pattern in allowed):
            response.headers["Access-Control-Allow-Origin"] = origin
            response.vary = [*(response.vary or ()), "Origin"]
    except Exception:  # CORS headers must never turn an error answer into another error
        LOG.warning("Could not add the CORS headers to an error answer", exc_info=True)


def _describe(request: Request) -> str:
    # The path only: the query string may hold the admin secret, which is never logged.
    return f"{request.method} {request.path}"


def http_exception_view(exc: Any, request: Request) -> Any:
    """Exception view for Pyramid's HTTP exceptions: 4xx/5xx as JSON, anything else unchanged."""
    status = int(exc.code)
    if status < 400:
        return exc  # redirects, 204 ...: a normal response
    message = str(exc.detail) if exc.detail else str(exc.title)
    if status == 404:
        LOG.debug("%s %s: %s", status, _describe(request), message)
    elif status < 500:
        LOG.info("%s %s: %s", status, _describe(request), message)
    else:
        LOG.warning("%s %s: %s", status, _describe(request), message)
    response = _json_response(request, status, message, exc)
    for name, value in exc.headers.items():
        if name.lower() not in _DROPPED_HEADERS:
            response.headers[name] = value
    return response


def exception_view(exc: Exception, request: Request) -> Response:
    """Exception view for every other exception: a JSON 500 (400 for a client disconnect)."""
    if is_client_disconnect(exc):
        LOG.info("%s: client disconnected (%s: %s)", _describe(request), type(exc).__name__, exc)
        return _json_response(request, 400, "Client disconnected while sending the request", None)
    LOG.error("%s failed", _describe(request), exc_info=exc)
    shown = _show_details(request)
    message = f"{type(exc).__name__}: {exc}" if shown else "Internal server error"
    return _json_response(request, 500, message, exc)


def database_error_view(exc: Exception, request: Request) -> Response:
    """Exception view for SQLAlchemy's ``IntegrityError`` / ``DataError``: a JSON 400 (6.x)."""
    original = getattr(exc, "orig", None) or exc
    lines = str(original).strip().splitlines()
    message = f"{type(original).__name__}: {lines[0] if lines else ''}".rstrip(": ")
    LOG.info("400 %s: %s", _describe(request), message)
    return _json_response(request, 400, message, exc)


INVALID_QUERY_STRING = "The query string is not valid UTF-8 (percent-escapes must encode UTF-8 text)"


def query_string_tween_factory(handler: Any, registry: Any) -> Any:
    """Tween: a JSON 400 for a query string that does not decode as UTF-8, before any view."""

    def query_string_tween(request: Request) -> Any:
        query = request.environ.get("QUERY_STRING", "")
        if query and ("%" in query or not query.isascii()):
            try:
                request.GET  # noqa: B018 - parsed once here, WebOb keeps it for the views
            except UnicodeDecodeError:
                LOG.info("400 %s: %s", _describe(request), INVALID_QUERY_STRING)
                return _json_response(request, 400, INVALID_QUERY_STRING, None)
        return handler(request)

    return query_string_tween


def includeme(config_: Any) -> None:
    """Register the JSON exception views (and the JSON not-found view), and the query-string check."""
    import importlib.util

    from pyramid.httpexceptions import HTTPException
    from pyramid.tweens import EXCVIEW

    config.core(config_.registry)  # validates C2C_DEVELOPMENT / C2C_SECRET now
    config_.add_tween("c2cwsgiutils.errors.query_string_tween_factory", over=EXCVIEW)
    config_.add_exception_view(http_exception_view, context=HTTPException)
    config_.add_exception_view(exception_view, context=Exception)
    if importlib.util.find_spec("sqlalchemy") is not None:
        from sqlalchemy.exc import DataError, IntegrityError

        for error in (IntegrityError, DataError):
            config_.add_exception_view(database_error_view, context=error)
    config_.add_notfound_view(http_exception_view)


init = init_alias(__name__)  # 6.x's set-up function, deprecated: config.include(this module)
