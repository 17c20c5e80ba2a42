"""6.x's leak-hunting debug views: memory_diff, memory_maps, show_refs.dot, memory?analyze_type."""

from __future__ import annotations

from typing import Any

import pytest
import webtest
from pyramid.config import Configurator

SECRET = "s3cr3t-debug"


class Leaked:
    pass


LEAKED: list[Leaked] = []


def _leak(request: Any) -> Any:
    LEAKED.append(Leaked())
    return {"leaked": len(LEAKED)}


@pytest.fixture
def app() -> webtest.TestApp:
    config = Configurator(settings={"c2c.debug_view_secret": SECRET})
    config.include("c2cwsgiutils.debug")
    config.add_route("leak", "/api/leak")
    config.add_view(_leak, route_name="leak", renderer="json")
    return webtest.TestApp(config.make_wsgi_app())


def _growth(answer: list[list[Any]]) -> dict[str, int]:
    return {row[0]: row[2] for row in answer}


def test_memory_diff_shows_the_type_a_request_leaks(app: webtest.TestApp) -> None:
    answer = app.get("/c2c/debug/memory_diff", {"secret": SECRET, "path": "/api/leak?x=1"}).json
    assert _growth(answer)[f"{__name__}.Leaked"] == 1


def test_memory_diff_takes_6x_path_in_the_url(app: webtest.TestApp) -> None:
    answer = app.get("/c2c/debug/memory_diff/api/leak", {"secret": SECRET}).json
    assert _growth(answer)[f"{__name__}.Leaked"] == 1


def test_memory_diff_needs_an_absolute_path(app: webtest.TestApp) -> None:
    assert "path must be" in app.get("/c2c/debug/memory_diff", {"secret": SECRET}, status=400).text


def test_memory_maps_lists_this_process_biggest_first(app: webtest.TestApp) -> None:
    maps = app.get("/c2c/debug/memory_maps", {"secret": SECRET}).json
    assert maps
    assert [m["pss_kb"] for m in maps] == sorted((m["pss_kb"] for m in maps), reverse=True)
    assert {"name", "size_kb", "rss_kb", "pss_kb"} <= set(maps[0])


def test_show_refs_draws_what_holds_the_objects(app: webtest.TestApp) -> None:
    app.get("/api/leak")
    response = app.get(
        "/c2c/debug/show_refs.dot",
        {"secret": SECRET, "analyze_type": f"{__name__}.Leaked", "max_depth": "2", "too_many": "5"},
    )
    assert response.content_type == "text/vnd.graphviz"
    assert response.text.startswith("digraph ObjectGraph {")
    assert "Leaked" in response.text
    assert "list (" in response.text  # LEAKED holds them
    assert " -> " in response.text


def test_show_refs_bounds_its_parameters(app: webtest.TestApp) -> None:
    app.get("/c2c/debug/show_refs.dot", {"secret": SECRET}, status=400)
    app.get(
        "/c2c/debug/show_refs.dot", {"secret": SECRET, "analyze_type": "x", "max_depth": "99"}, status=400
    )


def test_memory_analyze_type_as_in_6x(app: webtest.TestApp) -> None:
    functions = app.get("/c2c/debug/memory", {"secret": SECRET, "analyze_type": "builtins.function"}).json
    assert len(functions) == 1
    assert functions[0]["builtins.function"]["modules"][0]["nb_func"] > 0
    app.get("/api/leak")
    leaked = app.get("/c2c/debug/memory", {"secret": SECRET, "analyze_type": f"{__name__}.Leaked"}).json
    assert leaked[0][f"{__name__}.Leaked"]["biggest_objects"][0]["repr"].startswith("<")
    assert "timeout" not in leaked[0][f"{__name__}.Leaked"]
