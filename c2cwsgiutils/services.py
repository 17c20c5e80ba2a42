"""Cornice services that answer CORS requests, with preflight answers browsers and proxies may cache.

Usage::

    from c2cwsgiutils import services

    hello_service = services.create("hello", "/hello", cors_credentials=True)


    @hello_service.get()
    def hello_get(request):
        return {"hello": True}

Allowed origins come from ``C2C_CORS_ORIGINS`` (default ``*``), read from the application's
settings when the request is served (services are usually created at import time, before any
setting is known); ``cors_origins=...`` passed to :func:`create` wins. A successful preflight
(``OPTIONS``) answer carries ``Access-Control-Max-Age`` and ``Cache-Control: public, max-age=...``
(``C2C_CORS_MAX_AGE``) and ``Vary`` on the request headers it depends on.

``cornice`` is imported only when a service is created or this module is included.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from c2cwsgiutils import config

__all__ = ["CorsSettings", "create", "includeme"]

LOG = logging.getLogger(__name__)

CORS_ORIGINS = config.declare(
    "C2C_CORS_ORIGINS",
    "c2c.cors_origins",
    ["*"],
    config.as_list,
    "Origins allowed to call the services made with services.create (shell-style patterns such as "
    "https://*.example.com; * allows every origin). With cors_credentials=True, list your sites here.",
    feature="cors",
)
CORS_MAX_AGE = config.declare(
    "C2C_CORS_MAX_AGE",
    "c2c.cors_max_age",
    86400,
    config.bounded(config.as_int, 0, 31536000),
    "Seconds browsers and proxies may cache a CORS preflight answer (Access-Control-Max-Age and "
    "Cache-Control).",
    feature="cors",
)


@dataclass(frozen=True)
class CorsSettings:
    """CORS settings of one application, parsed once per registry."""

    origins: tuple[str, ...]
    max_age: int

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> CorsSettings:
        return cls(origins=tuple(CORS_ORIGINS.get(settings)), max_age=CORS_MAX_AGE.get(settings))


def _current_settings() -> CorsSettings:
    from pyramid.threadlocal import get_current_registry

    # The router pushes the application's registry for the duration of every request.
    return config.cached(get_current_registry(), CorsSettings.from_settings)


_service_class: type[Any] | None = None


def _cors_service_class() -> type[Any]:
    """The cornice ``Service`` subclass, built on first use so that importing us needs no cornice."""
    global _service_class
    if _service_class is not None:
        return _service_class
    from cornice import Service

    class CorsService(Service):  # type: ignore[misc]
        """A cornice service whose default origins and max-age come from the application settings."""

        def __init__(self, *args: Any, settings_origins: bool, settings_max_age: bool, **kwargs: Any):
            self.c2c_settings_origins = settings_origins
            self.c2c_settings_max_age = settings_max_age
            super().__init__(*args, **kwargs)

        def cors_origins_for(self, method: str) -> Any:
            if self.c2c_settings_origins:
                return set(_current_settings().origins)
            return super().cors_origins_for(method)

        def cors_max_age_for(self, method: str | None = None) -> Any:
            max_age = super().cors_max_age_for(method)
            if max_age is None and self.c2c_settings_max_age:
                return _current_settings().max_age
            return max_age

    _service_class = CorsService
    return CorsService


def _cacheable_preflight(response: Any, request: Any) -> Any:
    # A cornice filter, run on every answer of the service (errors included).
    if "Access-Control-Allow-Origin" not in response.headers:
        # An error response replaced the one the CORS validator had prepared: let cornice, which
        # runs right after the filters, add the CORS headers again (its own exception view, which
        # did that, is off so as not to compete with the application's error views).
        request.info["cors_checked"] = False
    vary = ["Origin"]
    if request.method == "OPTIONS":
        vary += ["Access-Control-Request-Method", "Access-Control-Request-Headers"]
        max_age = response.headers.get("Access-Control-Max-Age")
        if response.status_code == 200 and max_age is not None:
            # Cacheable, whatever the service's http_cache (0 by default) said.
            response.cache_control.no_cache = None
            response.cache_control.no_store = False
            response.cache_control.must_revalidate = False
            response.cache_control.public = True
            response.cache_control.max_age = int(max_age)
            response.expires = None
    existing = [item.strip() for item in (response.headers.get("Vary") or "").split(",") if item.strip()]
    response.headers["Vary"] = ", ".join(existing + [item for item in vary if item not in existing])
    return response


def create(name: str, path: str, cors_credentials: bool = False, **kwargs: Any) -> Any:
    """A ``cornice.Service`` at ``path`` that answers CORS requests.

    ``cors_credentials`` allows requests with cookies or HTTP authentication (the allowed origin
    is then echoed, never ``*``). Other keyword arguments go to ``cornice.Service``; among them
    ``cors_origins`` and ``cors_max_age`` replace ``C2C_CORS_ORIGINS`` and ``C2C_CORS_MAX_AGE``
    for this service. Returns the service; register it with ``config.scan()`` or
    ``config.add_cornice_service(service)``.
    """
    service_class = _cors_service_class()
    # venusian must attach the service to our caller's module (the one config.scan() scans):
    # frames up from cornice's __init__ are ours, then create(), then the caller.
    kwargs.setdefault("depth", 3)
    # As in 6.x: answers are not cached by browsers or proxies unless the view says otherwise.
    kwargs.setdefault("http_cache", 0)
    filters = list(kwargs.pop("filters", []))
    return service_class(
        name=name,
        path=path,
        cors_credentials=cors_credentials,
        cors_enabled=True,
        filters=[*filters, _cacheable_preflight],
        settings_origins="cors_origins" not in kwargs,
        settings_max_age="cors_max_age" not in kwargs,
        **kwargs,
    )


def _include_cornice(config_: Any) -> None:
    if getattr(config_.registry, "cornice_services", None) is not None:
        return  # the application included cornice itself
    settings = config_.registry.settings
    if settings is not None and "handle_exceptions" not in settings:
        # cornice's catch-all exception views would compete with the application's (and with
        # c2cwsgiutils.errors); CORS headers of error answers come from our filter instead.
        settings["handle_exceptions"] = False
    config_.include("cornice")


def _add_cornice_service(config_: Any, service: Any) -> None:
    """``config.add_cornice_service``: include cornice on first use, then register ``service``."""
    from cornice.pyramidhook import register_service_views

    _include_cornice(config_)
    register_service_views(config_, service)


def _add_cornice_resource(config_: Any, resource: Any) -> None:
    """``config.add_cornice_resource``: include cornice on first use, then register ``resource``."""
    from cornice.pyramidhook import register_resource_views

    _include_cornice(config_)
    register_resource_views(config_, resource)


def includeme(config_: Any) -> None:
    """Pyramid include: validate the CORS settings; cornice is included when the first service is added.

    cornice adds work to every request (a request subscriber and response callbacks, about doubling
    the cost of a small view), so an application that defines no service does not pay for it. The
    ``add_cornice_service`` directive (which ``config.scan()`` calls for every service) includes
    cornice on first use.
    """
    import importlib.util

    config.cached(config_.registry, CorsSettings.from_settings)
    if importlib.util.find_spec("cornice") is None:
        LOG.warning("CORS services disabled: the 'cornice' package is not installed")
        return
    if getattr(config_.registry, "cornice_services", None) is None:
        config_.add_directive("add_cornice_service", _add_cornice_service)
        config_.add_directive("add_cornice_resource", _add_cornice_resource)
