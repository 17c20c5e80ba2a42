"""6.x's broadcaster classes (c2cwsgiutils.broadcast.interface/local/redis/utils)."""

from __future__ import annotations

import os
import socket
from typing import Any

import pytest

from c2cwsgiutils.broadcast import interface, local, utils
from c2cwsgiutils.broadcast.redis import RedisBroadcaster
from tests.helpers import wait_for


def test_add_host_info_marks_a_dict_with_its_process() -> None:
    assert utils.add_host_info({"x": 1}) == {"x": 1, "hostname": socket.gethostname(), "pid": os.getpid()}
    assert utils.add_host_info(42) == 42


def test_the_interface_cannot_be_instantiated() -> None:
    with pytest.raises(TypeError):
        interface.BaseBroadcaster()  # type: ignore[abstract]


def test_local_broadcaster_answers_from_this_process() -> None:
    broadcaster = local.LocalBroadcaster()
    broadcaster.subscribe("double", lambda value: {"value": value * 2})
    answers = broadcaster.broadcast("double", {"value": 21}, expect_answers=True, timeout=1)
    assert answers == [{"value": 42, "hostname": socket.gethostname(), "pid": os.getpid()}]
    assert broadcaster.broadcast("double", {"value": 1}, expect_answers=False, timeout=1) is None
    assert broadcaster.broadcast("nobody", {}, expect_answers=True, timeout=1) == []
    broadcaster.unsubscribe("double")
    assert broadcaster.get_subscribers() == {}


def test_redis_broadcaster_gathers_the_answers_of_every_subscriber(redis_url: str, redis_prefix: str) -> None:
    import redis

    clients = [redis.Redis.from_url(redis_url) for _ in range(2)]
    broadcasters = [RedisBroadcaster(redis_prefix, client, client) for client in clients]
    try:
        previous = local.LocalBroadcaster()
        previous.subscribe("echo", lambda text: text.upper())
        for broadcaster in broadcasters:
            broadcaster.copy_local_subscriptions(previous)
        wait_for(
            lambda: clients[0].pubsub_numsub(f"{redis_prefix}echo")[0][1] == 2,
            message="both broadcasters subscribed",
        )
        answers: Any = broadcasters[0].broadcast("echo", {"text": "hi"}, expect_answers=True, timeout=10)
        assert answers == ["HI", "HI"]
        assert broadcasters[0].broadcast("echo", {"text": "x"}, expect_answers=False, timeout=1) is None
    finally:
        for broadcaster, client in zip(broadcasters, clients, strict=True):
            broadcaster.close()
            client.close()
