"""Pyramid wiring of the metrics: backends, route/render timers, ``Server-Timing``, views, SQL timers.

Every request is timed in wall-clock time (``time.perf_counter``) as
``route.{verb}.{route}.{status}`` (from the tween to the response, rendering included) and, for
views with a renderer, ``render.{verb}.{route}.{status}`` (from the view's return to the
response; the start is noted by a view deriver). Backends with tags receive ``route``/``render``
with the tags ``method``, ``route`` and ``status``. Unmatched requests use the route name ``_not_found``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from c2cwsgiutils import config as c2c_config
from c2cwsgiutils import stats
from c2cwsgiutils.stats._settings import StatsSettings

__all__ = ["includeme", "render_start_deriver", "stats_tween_factory"]

LOG = logging.getLogger(__name__)

_RENDER_START = "_c2c_stats_render_start"
_ROUTE_KEY = ("route",)
_RENDER_KEY = ("render",)


def render_start_deriver(view: Callable[..., Any], info: Any) -> Callable[..., Any]:
    """View deriver between the renderer and the view: notes when the view returned data to render.

    A deriver rather than a ``BeforeRender`` subscriber: with any subscriber registered, Pyramid
    notifies every event of every request (NewRequest, ContextFound, NewResponse ...), which cost
    more than the timers themselves.
    """
    if info.options.get("renderer") is None:
        return view
    from pyramid.interfaces import IResponse

    provided_by = IResponse.providedBy
    perf_counter = time.perf_counter

    def noting_view(context: Any, request: Any) -> Any:
        result = view(context, request)
        if not provided_by(result):
            request.__dict__[_RENDER_START] = perf_counter()
        return result

    return noting_view


def stats_tween_factory(handler: Callable[[Any], Any], registry: Any) -> Callable[[Any], Any]:
    """The tween recording the route and render timers (and the ``Server-Timing`` header)."""
    settings = c2c_config.cached(registry, StatsSettings.from_settings)
    server_timing = settings.server_timing
    record = settings.any_backend
    perf_counter = time.perf_counter
    add_timings = stats.add_timings

    def stats_tween(request: Any) -> Any:
        start = perf_counter()
        try:
            response = handler(request)
        except BaseException:
            if record:
                _record(request, "500", start, perf_counter(), add_timings)
            raise
        end = perf_counter()
        if record:
            _record(request, str(response.status_code), start, end, add_timings)
        if server_timing:
            parts = [f"total;dur={(end - start) * 1000:.1f}"]
            render_start = request.__dict__.get(_RENDER_START)
            if render_start is not None:
                parts.append(f"render;dur={(end - render_start) * 1000:.1f}")
            response.headers.add("Server-Timing", ", ".join(parts))
        return response

    return stats_tween


def _record(request: Any, status: str, start: float, end: float, add_timings: Any) -> None:
    route = request.matched_route
    tags = {
        "method": request.method,
        "route": route.name if route is not None else "_not_found",
        "status": status,
    }
    render_start = request.__dict__.get(_RENDER_START)
    if render_start is None:
        add_timings(((_ROUTE_KEY, end - start, tags),))
    else:
        add_timings(((_ROUTE_KEY, end - start, tags), (_RENDER_KEY, end - render_start, tags)))


def includeme(config: Any) -> None:
    """Set the backends up, add the timers tween, the ``stats.json`` and Prometheus views, SQL timers."""
    from pyramid.tweens import EXCVIEW

    settings = c2c_config.cached(config.registry, StatsSettings.from_settings)
    stats.setup(config.get_settings())
    if settings.any_backend or settings.server_timing:
        # Over pyramid_tm when it is there (the commit is part of the request), else over the
        # exception view so that the status of error responses is known.
        config.add_tween(
            "c2cwsgiutils.stats.pyramid.stats_tween_factory", over=("pyramid_tm.tm_tween_factory", EXCVIEW)
        )
        config.add_view_deriver(render_start_deriver, under="rendered_view", over="mapped_view")
    if settings.memory:
        from c2cwsgiutils.admin import add_admin_view
        from c2cwsgiutils.stats.memory import stats_view

        add_admin_view(
            config,
            "stats",
            "stats.json",
            stats_view,
            title="Metrics of this process (in memory)",
            params=("reset",),
            needs_secret=False,
        )
    if settings.prometheus and settings.prometheus_path:
        try:
            from c2cwsgiutils.stats.prometheus import metrics_view
        except ImportError:
            pass  # stats.setup() already said why
        else:
            config.add_route("c2c_prometheus_metrics", settings.prometheus_path, request_method="GET")
            config.add_view(metrics_view, route_name="c2c_prometheus_metrics", http_cache=0)
    if settings.sql_stats:
        try:
            from c2cwsgiutils.stats import sql
        except ImportError:
            LOG.warning("SQL timers disabled: SQLAlchemy is not installed")
        else:
            sql.instrument()
