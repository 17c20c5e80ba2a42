"""The route/render timers tween, the Server-Timing header and the stats.json view, through WebTest."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import webtest

MakeApp = Callable[[dict[str, Any]], webtest.TestApp]

MEMORY = {"c2c.stats_view": "true"}


def _timers(app: webtest.TestApp) -> dict[str, Any]:
    return app.get("/c2c/stats.json").json["timers"]  # type: ignore[no-any-return]


def test_stats_view_is_absent_when_not_enabled(make_app: MakeApp) -> None:
    app = make_app({})
    app.get("/c2c/stats.json", status=404)


def test_route_and_render_timers_of_a_rendered_view(make_app: MakeApp) -> None:
    app = make_app(MEMORY)
    app.get("/hello")
    app.get("/hello")
    timers = _timers(app)
    assert timers["route.GET.hello.200"]["count"] == 2
    assert timers["render.GET.hello.200"]["count"] == 2


def test_a_view_without_renderer_has_no_render_timer(make_app: MakeApp) -> None:
    app = make_app(MEMORY)
    app.get("/plain")
    assert [name for name in _timers(app) if "plain" in name] == ["route.GET.plain.200"]


def test_error_response_is_recorded_with_its_status(make_app: MakeApp) -> None:
    app = make_app(MEMORY)
    app.get("/boom", status=500)
    assert _timers(app)["route.GET.boom.500"]["count"] == 1


def test_unmatched_request_uses_not_found_route_name(make_app: MakeApp) -> None:
    app = make_app(MEMORY)
    app.post("/nowhere", status=404)
    assert _timers(app)["route.POST._not_found.404"]["count"] == 1


def test_route_timer_is_wall_clock_time(make_app: MakeApp) -> None:
    # The view sleeps 50 ms without using the CPU: process time would record almost nothing.
    app = make_app(MEMORY)
    app.get("/sleep")
    assert _timers(app)["route.GET.sleep.200"]["min_ms"] >= 50


def test_stats_view_reset_clears_after_reading(make_app: MakeApp) -> None:
    app = make_app(MEMORY)
    app.get("/hello")
    first = app.get("/c2c/stats.json", params={"reset": "1"}).json
    assert first["timers"]["route.GET.hello.200"]["count"] == 1
    assert "route.GET.hello.200" not in _timers(app)


def test_stats_view_shows_counters_and_gauges(make_app: MakeApp) -> None:
    from c2cwsgiutils import stats

    app = make_app(MEMORY)
    stats.increment_counter(["emails", "sent"], 3)
    stats.set_gauge(["queue"], 12)
    body = app.get("/c2c/stats.json").json
    assert body["counters"] == {"emails.sent": 3}
    assert body["gauges"] == {"queue": 12}


def test_server_timing_header_when_enabled(make_app: MakeApp) -> None:
    app = make_app({"c2c.server_timing": "true"})
    header = app.get("/hello").headers["Server-Timing"]
    names = [part.split(";")[0] for part in header.split(", ")]
    assert names == ["total", "render"]


def test_no_server_timing_header_by_default(make_app: MakeApp) -> None:
    app = make_app(MEMORY)
    assert "Server-Timing" not in app.get("/hello").headers


def test_admin_index_lists_the_stats_view(make_app: MakeApp) -> None:
    from c2cwsgiutils.admin import admin_views

    app = make_app(MEMORY)
    registry = app.app.registry
    assert [view.path for view in admin_views(registry)] == ["stats.json"]


def test_included_by_the_whole_toolkit() -> None:
    from pyramid.config import Configurator
    from pyramid.response import Response

    config = Configurator(settings=MEMORY)
    config.include("c2cwsgiutils.pyramid")
    config.add_route("plain", "/plain")
    config.add_view(lambda request: Response("plain"), route_name="plain")
    app = webtest.TestApp(config.make_wsgi_app())
    app.get("/plain")
    assert _timers(app)["route.GET.plain.200"]["count"] == 1
