"""Registration of admin views: one call adds the route under ``C2C_BASE_PATH``, the secret check,
and an entry that the admin index (``{C2C_BASE_PATH}/``) lists.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from c2cwsgiutils import auth, config

__all__ = ["AdminView", "add_admin_view", "admin_views"]

_REGISTRY_KEY = "c2cwsgiutils.admin_views"


@dataclass(frozen=True)
class AdminView:
    """What the admin index shows of one view."""

    name: str
    path: str  # relative to C2C_BASE_PATH, e.g. "logging/level"
    title: str
    methods: tuple[str, ...] = ("GET",)
    params: tuple[str, ...] = ()  # query parameters the index offers as form fields
    secret: config.Setting[str] | None = None  # specific secret setting; C2C_SECRET always works
    needs_secret: bool = True
    extra: dict[str, Any] = field(default_factory=dict)


def add_admin_view(
    config_: Any,
    name: str,
    path: str,
    view: Callable[[Any], Any],
    *,
    title: str,
    methods: Sequence[str] = ("GET",),
    params: Sequence[str] = (),
    secret: config.Setting[str] | None = None,
    needs_secret: bool = True,
    renderer: str | None = "fast_json",
) -> None:
    """Add ``view`` at ``{C2C_BASE_PATH}/{path}`` behind the secret and list it in the admin index.

    ``secret`` is the view's own secret setting (e.g. ``LOG_VIEW_SECRET``); ``C2C_SECRET`` opens
    every view. The view is only called once the secret was checked (404 when none is configured,
    403 when it is wrong). ``renderer`` defaults to JSON.
    """
    base = config.core(config_.registry).base_path
    route = f"c2c_{name}"
    config_.add_route(route, f"{base}/{path.lstrip('/')}", request_method=tuple(methods))

    guarded: Callable[[Any], Any] = view
    if needs_secret:

        def guarded_view(request: Any) -> Any:
            auth.require_secret(request, secret)
            return view(request)

        guarded = guarded_view

    if renderer == "fast_json":
        renderer = "json"
    config_.add_view(guarded, route_name=route, renderer=renderer, http_cache=0)
    entry = AdminView(name, path.lstrip("/"), title, tuple(methods), tuple(params), secret, needs_secret)
    config_.registry.__dict__.setdefault(_REGISTRY_KEY, {})[name] = entry


def admin_views(registry: Any) -> list[AdminView]:
    """The admin views registered so far, in registration order."""
    return list(registry.__dict__.get(_REGISTRY_KEY, {}).values())
