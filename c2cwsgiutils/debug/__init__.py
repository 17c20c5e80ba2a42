"""Debug views: thread stacks and memory of every worker process, request echo, sleep, time, errors.

``config.include("c2cwsgiutils.debug")`` adds, under ``{C2C_BASE_PATH}/debug/``:

- ``stacks``: the stack of every thread of every worker process (through :mod:`c2cwsgiutils.broadcast`);
- ``memory``: the object types holding the most instances and bytes, per process (``limit``);
- ``headers``: the request as this process received it (method, URL, headers, client address);
- ``sleep?time=``: sleeps that many seconds (bounded by ``C2C_DEBUG_MAX_SLEEP``);
- ``time``: the server's clock (UTC, local, epoch);
- ``error?status=``: raises an HTTP error with that status, or a plain exception (500).

Every one of them needs ``DEBUG_VIEW_SECRET`` or ``C2C_SECRET`` (404 when neither is set).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from c2cwsgiutils import config
from c2cwsgiutils._deprecated import init_alias

__all__ = ["DEBUG_VIEW_SECRET", "MAX_SLEEP", "DebugSettings", "includeme"]

DEBUG_VIEW_SECRET = config.declare(
    "DEBUG_VIEW_SECRET",
    "c2c.debug_view_secret",
    "",
    config.as_str,
    "Secret that opens the debug views (C2C_SECRET opens them too). Neither set: the debug views answer 404.",
    secret=True,
    feature="debug",
)
MAX_SLEEP = config.declare(
    "C2C_DEBUG_MAX_SLEEP",
    "c2c.debug_max_sleep",
    30.0,
    config.bounded(config.as_float, 0, 3600),
    "Longest sleep, in seconds, that debug/sleep accepts.",
    feature="debug",
)


@dataclass(frozen=True)
class DebugSettings:
    """The debug views' settings, parsed once per registry."""

    max_sleep: float

    @classmethod
    def from_settings(cls, settings: Any) -> DebugSettings:
        return cls(max_sleep=MAX_SLEEP.get(settings))


def includeme(config_: Any) -> None:
    """Pyramid include: add the debug views (each behind the debug secret)."""
    from c2cwsgiutils.admin import add_admin_view
    from c2cwsgiutils.debug import leaks, memory, stacks, views

    config.cached(config_.registry, DebugSettings.from_settings)  # fail start-up on a bad value
    common: dict[str, Any] = {"secret": DEBUG_VIEW_SECRET}
    add_admin_view(
        config_, "debug_stacks", "debug/stacks", stacks.stacks_view, title="Thread stacks", **common
    )
    add_admin_view(
        config_,
        "debug_memory",
        "debug/memory",
        memory.memory_view,
        title="Largest object types",
        params=("limit", "analyze_type"),
        **common,
    )
    add_admin_view(
        config_, "debug_headers", "debug/headers", views.headers_view, title="Request as received", **common
    )
    add_admin_view(
        config_, "debug_sleep", "debug/sleep", views.sleep_view, title="Sleep", params=("time",), **common
    )
    # Open as in 6.x (the clock is in every answer's Date header anyway), while the debug views are on.
    add_admin_view(
        config_,
        "debug_time",
        "debug/time",
        views.open_time_view,
        title="Server time",
        secret=DEBUG_VIEW_SECRET,
        needs_secret=False,
    )
    add_admin_view(
        config_,
        "debug_memory_diff",
        "debug/memory_diff",
        leaks.memory_diff_view,
        title="Object types grown by a request (this process)",
        params=("path", "limit"),
        **common,
    )
    add_admin_view(
        config_,
        "debug_memory_diff_path",  # 6.x's older spelling: debug/memory_diff/api/ping
        "debug/memory_diff/*path",
        leaks.memory_diff_view,
        title="Object types grown by a request (path in the URL)",
        **common,
    )
    add_admin_view(
        config_,
        "debug_memory_maps",
        "debug/memory_maps",
        leaks.memory_maps_view,
        title="Memory maps",
        **common,
    )
    add_admin_view(
        config_,
        "debug_show_refs",
        "debug/show_refs.dot",
        leaks.show_refs_view,
        title="Referrers of a type (Graphviz)",
        params=("analyze_type", "max_depth", "too_many", "min_size_kb"),
        renderer=None,
        **common,
    )
    add_admin_view(
        config_,
        "debug_error",
        "debug/error",
        views.error_view,
        title="Raise an error",
        params=("status",),
        **common,
    )


init = init_alias(__name__)  # 6.x's set-up function, deprecated: config.include(this module)


def init_daemon(config_: Any = None) -> None:
    """6.x's listeners for processes without web views (deprecated): the broadcast set-up is enough."""
    from c2cwsgiutils import broadcast
    from c2cwsgiutils._deprecated import warn

    warn("c2cwsgiutils.debug.init_daemon", "c2cwsgiutils.broadcast.setup(settings)")
    broadcast.setup(config_.get_settings() if config_ is not None else None)


def __getattr__(name: str) -> Any:
    # 6.x's names, moved to debug.sizes.
    if name in ("get_size", "dump_memory_maps"):
        from c2cwsgiutils._deprecated import resolve, warn

        warn(f"c2cwsgiutils.debug.{name}", f"c2cwsgiutils.debug.sizes.{name}")
        return resolve(f"c2cwsgiutils.debug.sizes.{name}")
    if name in ("ENV_KEY", "CONFIG_KEY"):
        return {"ENV_KEY": "C2C_DEBUG_VIEW_ENABLED", "CONFIG_KEY": "c2c.debug_view_enabled"}[name]
    raise AttributeError(f"module 'c2cwsgiutils.debug' has no attribute {name!r}")
