"""Collector settings that ``serve`` derives from others."""

from __future__ import annotations

import pytest

from c2cwsgiutils.collector.settings import CollectorSettings, serve_workers


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({}, 1),
        ({"c2c.collector.db_url": "postgresql://u@db/logs"}, 2),
        ({"c2c.collector.forward_url": "http://upstream:8090"}, 2),
        ({"c2c.collector.workers": "3"}, 3),
    ],
)
def test_serve_runs_one_process_with_sqlite_unless_told_otherwise(
    settings: dict[str, str], expected: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("C2C_COLLECTOR_WORKERS", "C2C_COLLECTOR_DB_URL", "C2C_COLLECTOR_FORWARD_URL"):
        monkeypatch.delenv(name, raising=False)
    assert expected == serve_workers(CollectorSettings.from_settings(settings))
