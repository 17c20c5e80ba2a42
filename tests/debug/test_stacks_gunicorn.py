"""debug/stacks through a real gunicorn with two workers and Redis: every worker answers."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.debug.server import children_of, gunicorn
from tests.helpers import wait_for

SECRET = "stacks-secret"


@pytest.mark.slow
def test_stacks_show_both_gunicorn_workers(tmp_path: Path, redis_url: str, redis_prefix: str) -> None:
    import redis

    env = {"C2C_REDIS_URL": redis_url, "C2C_REDIS_PREFIX": redis_prefix, "DEBUG_VIEW_SECRET": SECRET}
    client = redis.Redis.from_url(redis_url)
    try:
        with gunicorn(tmp_path, env) as server:
            # Each worker subscribes when it has loaded the application.
            wait_for(
                lambda: client.pubsub_numsub(f"{redis_prefix}broadcast")[0][1] == 2,
                message="both workers listening for broadcasts",
            )
            workers = children_of(server.master)
            body = server.get("/c2c/debug/stacks", headers={"X-API-Key": SECRET})
    finally:
        client.close()
    assert isinstance(body, list)
    assert {entry["pid"] for entry in body} == workers
    assert len(workers) == 2
    for entry in body:
        names = {thread["name"] for thread in entry["threads"]}
        assert "c2c-broadcast" in names
        assert entry["hostname"]
    # The worker that served the request shows the thread that was serving it.
    frames = [
        frame["function"] for entry in body for thread in entry["threads"] for frame in thread["frames"]
    ]
    assert frames.count("stacks_view") == 1
