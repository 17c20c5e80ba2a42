"""The views reference page (docs/reference/views.md) lists every route the toolkit registers.

An application includes ``c2cwsgiutils.pyramid`` with every view switched on; each route it gets
must be a row of the page's first table with the same methods (HEAD aside), and each row a route.
The collector's routes must be in the page's second table.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from pyramid.config import Configurator

from tests.helpers import ROOT

PAGE = ROOT / "docs" / "reference" / "views.md"
COLLECTOR_HEADING = "## The log collector's views"


def documented(section: str) -> dict[str, set[str]]:
    """Path -> methods, from the rows of the tables of ``section``."""
    rows: dict[str, set[str]] = {}
    for line in section.split("\n"):
        cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
        if not line.startswith("| `") or len(cells) < 3:
            continue
        methods = {method.strip() for method in cells[1].split(",")}
        for path in re.findall(r"`(/[^`]*)`", cells[0]):
            rows.setdefault(path, set()).update(methods)
    return rows


def registered(mapper: Any) -> dict[str, set[str]]:
    """Path -> methods of a routes mapper (HEAD left out: Pyramid adds it to GET)."""
    routes: dict[str, set[str]] = {}
    for route in mapper.get_routes():
        methods: set[str] = set()
        for predicate in route.predicates:
            if predicate.text().startswith("request_method"):
                methods.update(predicate.text().split("=", 1)[1].strip().split(","))
        routes.setdefault(route.pattern, set()).update(methods - {"HEAD"})
    return routes


def everything_on(tmp_path: Path) -> dict[str, str]:
    versions = tmp_path / "versions.json"
    versions.write_text(json.dumps({"main": {"git_hash": "0123abc"}, "packages": {}}))
    return {
        "c2c.secret": "s3cret-for-the-views",
        "c2c.debug_view_enabled": "true",
        "c2c.log_view_enabled": "true",
        "c2c.sql_profiler_enabled": "true",
        "c2c.stats_view": "true",
        "c2c.prometheus": "true",
        "c2c.db_maintenance_view_enabled": "true",
        "c2c.versions_path": str(versions),
        "c2c.auth.github.client_id": "client",
        "c2c.auth.github.client_secret": "client-secret",
        "c2c.auth.github.repository": "owner/name",
        "c2c.auth.github.auth.secret": "a-signing-key-of-24-chars",
    }


def test_every_view_of_the_include_is_on_the_page(tmp_path: Path) -> None:
    from c2cwsgiutils.health_check import HealthCheck

    with Configurator(settings=everything_on(tmp_path)) as config:
        config.include("c2cwsgiutils.pyramid")
        HealthCheck(config)
        config.commit()
        routes = registered(config.get_routes_mapper())
    toolkit = documented(PAGE.read_text(encoding="utf-8").split(COLLECTOR_HEADING)[0])
    assert len(routes) >= 20, routes
    assert routes == toolkit


def test_every_view_of_the_collector_is_on_the_page(tmp_path: Path) -> None:
    from c2cwsgiutils.collector.app import create_app

    app = create_app({"c2c.collector.db_url": f"sqlite:///{tmp_path / 'collector.sqlite'}"})
    routes = registered(app.routes_mapper)
    page = documented(PAGE.read_text(encoding="utf-8").split(COLLECTOR_HEADING)[1])
    collector_only = {path for path in routes if not path.startswith("/c2c") and path != "/metrics"}
    assert collector_only >= {"/", "/api/v1/record", "/v1/logs", "/health"}
    missing = sorted(path for path in collector_only if path not in page)
    assert not missing, f"collector routes missing from {PAGE.name}: {missing}"
    unknown = sorted(path for path in page if path not in routes)
    assert not unknown, f"rows of {PAGE.name} that are no collector route: {unknown}"
