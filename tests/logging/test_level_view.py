from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import webtest
from pyramid.config import Configurator

from c2cwsgiutils import broadcast
from c2cwsgiutils.logging import level_view
from tests.helpers import ROOT, child_env, free_port, stop_process, wait_port

LOGGER = "tests.level_view.target"


@pytest.fixture(autouse=True)
def _restore_levels() -> Iterator[None]:
    yield
    logging.getLogger(LOGGER).setLevel(logging.NOTSET)
    level_view._overrides.clear()


def make_app(settings: dict[str, Any] | None = None) -> webtest.TestApp:
    configurator = Configurator(settings={"c2c.secret": "s3cret", **(settings or {})})
    configurator.include("c2cwsgiutils.logging.level_view")
    return webtest.TestApp(configurator.make_wsgi_app())


def test_get_returns_the_effective_level() -> None:
    logging.getLogger(LOGGER).setLevel(logging.ERROR)
    response = make_app().get("/c2c/logging/level", params={"name": LOGGER, "secret": "s3cret"})
    assert response.json["level"] == "ERROR"


def test_get_answers_6x_shape_own_and_effective_level() -> None:
    logging.getLogger(LOGGER).setLevel(logging.WARNING)
    response = make_app().get("/c2c/logging/level", params={"name": f"{LOGGER}.child", "secret": "s3cret"})
    assert response.json == {
        "status": 200,
        "name": f"{LOGGER}.child",
        "level": "NOTSET",
        "effective_level": "WARNING",
    }


def test_set_applies_the_level_and_lists_the_process() -> None:
    response = make_app().get(
        "/c2c/logging/level", params={"name": LOGGER, "level": "debug"}, headers={"X-API-Key": "s3cret"}
    )
    assert logging.getLogger(LOGGER).level == logging.DEBUG
    assert response.json["level"] == "DEBUG"
    assert response.json["effective_level"] == "DEBUG"
    assert [p["pid"] for p in response.json["processes"]] == [os.getpid()]
    assert response.json["processes"][0]["effective_level"] == "DEBUG"


def test_an_invalid_level_is_a_json_400() -> None:
    response = make_app().get(
        "/c2c/logging/level", params={"name": LOGGER, "level": "LOUD", "secret": "s3cret"}, status=400
    )
    assert response.content_type == "application/json"
    assert response.json["status"] == 400
    assert "DEBUG" in response.json["message"]
    assert logging.getLogger(LOGGER).level == logging.NOTSET


def test_without_a_name_it_lists_the_overrides() -> None:
    app = make_app()
    app.get("/c2c/logging/level", params={"name": LOGGER, "level": "WARNING", "secret": "s3cret"})
    assert app.get("/c2c/logging/level", params={"secret": "s3cret"}).json["overrides"] == {LOGGER: "WARNING"}


def test_the_view_specific_secret_opens_it() -> None:
    configurator = Configurator(settings={"c2c.log_view_secret": "logs-only"})
    configurator.include("c2cwsgiutils.logging.level_view")
    app = webtest.TestApp(configurator.make_wsgi_app())
    assert app.get("/c2c/logging/level", params={"name": LOGGER, "secret": "logs-only"}).status_int == 200
    app.get("/c2c/logging/level", params={"name": LOGGER, "secret": "wrong"}, status=403)


def test_a_wrong_secret_is_a_403() -> None:
    make_app().get("/c2c/logging/level", params={"name": LOGGER, "secret": "nope"}, status=403)


def test_without_a_configured_secret_the_view_is_a_404() -> None:
    configurator = Configurator(settings={})
    configurator.include("c2cwsgiutils.logging.level_view")
    webtest.TestApp(configurator.make_wsgi_app()).get("/c2c/logging/level", status=404)


def test_overrides_kept_in_redis_are_applied_at_start_up(redis_url: str, redis_prefix: str) -> None:
    settings = {"c2c.redis_url": redis_url, "c2c.redis_prefix": redis_prefix}
    make_app(settings).get(
        "/c2c/logging/level", params={"name": LOGGER, "level": "ERROR", "secret": "s3cret"}
    )
    logging.getLogger(LOGGER).setLevel(logging.NOTSET)  # as in a fresh worker
    broadcast.shutdown()
    make_app(settings)
    assert logging.getLogger(LOGGER).level == logging.ERROR


@pytest.mark.slow
def test_a_level_set_through_the_view_reaches_both_gunicorn_workers(
    redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    port = free_port()
    env = {
        "C2C_REDIS_URL": redis_url,
        "C2C_REDIS_PREFIX": redis_prefix,
        "C2C_SECRET": "s3cret",
    }
    log = tmp_path / "gunicorn.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--workers",
                "2",
                "--bind",
                f"127.0.0.1:{port}",
                "tests.apps.level_app:app",
            ],
            env=child_env(env),
            stdout=output,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            start_new_session=True,
        )
    try:
        wait_port(port, process=process)
        pids = _subscribed_workers(process.pid, redis_url, f"{redis_prefix}broadcast")
        assert len(pids) == 2, log.read_text()
        with urllib.request.urlopen(
            f"http://127.0.0.1:{port}/c2c/logging/level?name={LOGGER}&level=DEBUG&secret=s3cret", timeout=10
        ) as response:
            answer = json.load(response)
        # Each worker answers with the level it now has.
        assert sorted(p["pid"] for p in answer["processes"]) == sorted(pids)
        assert {p["effective_level"] for p in answer["processes"]} == {"DEBUG"}
    finally:
        stop_process(process)


def _subscribed_workers(master: int, redis_url: str, channel: str) -> list[int]:
    """The master's worker pids, once both listen to the broadcast channel."""
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        deadline = time.monotonic() + 30
        pids: list[int] = []
        while time.monotonic() < deadline:
            children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
            pids = [int(child) for child in children]
            if len(pids) == 2 and client.pubsub_numsub(channel)[0][1] == 2:
                break
            time.sleep(0.1)
        return pids
    finally:
        client.close()
