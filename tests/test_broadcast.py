from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time

from c2cwsgiutils import broadcast
from tests.helpers import child_env


@broadcast.decorator(expect_answers=True, timeout=3, name="tests.whoami")
def whoami(greeting: str) -> str:
    return f"{greeting} from {os.getpid()}"


@broadcast.decorator(expect_answers=True, timeout=3, name="tests.fails")
def fails() -> None:
    raise ValueError("nope")


LISTENER = textwrap.dedent(
    """
    import os, sys, time
    from c2cwsgiutils import broadcast

    @broadcast.decorator(expect_answers=True, name="tests.whoami")
    def whoami(greeting):
        return f"{greeting} from {os.getpid()}"

    broadcast.setup({"c2c.redis_url": sys.argv[1], "c2c.redis_prefix": sys.argv[2]})
    print("ready", flush=True)
    time.sleep(30)
    """
)


def test_without_redis_the_call_runs_in_this_process() -> None:
    answers = whoami(greeting="hi")
    assert answers == [
        {"pid": os.getpid(), "hostname": answers[0]["hostname"], "result": f"hi from {os.getpid()}"}
    ]


def test_an_error_is_reported_not_raised() -> None:
    assert fails()[0]["error"] == "ValueError: nope"


def test_with_redis_every_process_answers(redis_url: str, redis_prefix: str) -> None:
    other = subprocess.Popen(
        [sys.executable, "-c", LISTENER, redis_url, redis_prefix], env=child_env(), stdout=subprocess.PIPE
    )
    try:
        assert other.stdout is not None
        assert other.stdout.readline().strip() == b"ready"
        broadcast.setup({"c2c.redis_url": redis_url, "c2c.redis_prefix": redis_prefix})
        answers = whoami(greeting="hello")
        assert sorted(a["pid"] for a in answers) == sorted([os.getpid(), other.pid])
        assert {a["result"] for a in answers} == {f"hello from {os.getpid()}", f"hello from {other.pid}"}
    finally:
        other.kill()
        other.wait()
        assert other.stdout is not None
        other.stdout.close()


def test_prefixes_isolate_services(redis_url: str, redis_prefix: str) -> None:
    other = subprocess.Popen(
        [sys.executable, "-c", LISTENER, redis_url, redis_prefix + "other:"],
        env=child_env(),
        stdout=subprocess.PIPE,
    )
    try:
        assert other.stdout is not None
        other.stdout.readline()
        broadcast.setup({"c2c.redis_url": redis_url, "c2c.redis_prefix": redis_prefix})
        assert [a["pid"] for a in whoami(greeting="x")] == [os.getpid()]
    finally:
        other.kill()
        other.wait()
        assert other.stdout is not None
        other.stdout.close()


def test_listener_survives_a_redis_outage(redis_url: str, redis_prefix: str) -> None:
    import redis

    broadcast.setup({"c2c.redis_url": redis_url, "c2c.redis_prefix": redis_prefix})
    admin = redis.Redis.from_url(redis_url)
    # Drop this process's connections, as a Redis restart would (other test runs may share Redis).
    mine = f"c2cwsgiutils-broadcast-{os.getpid()}"
    killed = [c["id"] for c in admin.client_list() if c.get("name") == mine]
    assert killed
    for client_id in killed:
        admin.client_kill_filter(_id=client_id)
    deadline = time.monotonic() + 10
    answers: list[broadcast.Answer] = []
    while time.monotonic() < deadline:
        answers = whoami(greeting="back")
        if answers and "result" in answers[0] and admin.pubsub_numsub(f"{redis_prefix}broadcast")[0][1] >= 1:
            break
        time.sleep(0.2)
    assert admin.pubsub_numsub(f"{redis_prefix}broadcast")[0][1] == 1
    assert answers[0]["result"] == f"back from {os.getpid()}"
    admin.close()


@broadcast.decorator(expect_answers=True)
def answer_6x() -> int:
    return 42


@broadcast.decorator(channel="tests.dict_6x", expect_answers=True)
def dict_6x(value: int) -> dict[str, int]:
    return {"value": value}


def test_the_6x_spelling_returns_the_results_only() -> None:
    assert answer_6x() == [42]
    assert dict_6x(value=3) == [{"value": 3, "hostname": socket.gethostname(), "pid": os.getpid()}]


def test_6x_broadcast_subscribe_and_unsubscribe() -> None:
    broadcast.subscribe("tests.channel_6x", lambda x: x * 2)
    assert broadcast.broadcast("tests.channel_6x", {"x": 21}, expect_answers=True) == [42]
    assert broadcast.broadcast("tests.channel_6x", {"x": 21}) is None
    broadcast.unsubscribe("tests.channel_6x")
    # as 6.x: a process without a subscriber to the channel does not answer
    assert broadcast.broadcast("tests.channel_6x", {"x": 21}, expect_answers=True) == []


def test_6x_results_come_from_every_process(redis_url: str, redis_prefix: str) -> None:
    other = subprocess.Popen(
        [sys.executable, "-c", LISTENER, redis_url, redis_prefix], env=child_env(), stdout=subprocess.PIPE
    )
    try:
        assert other.stdout is not None
        assert other.stdout.readline().strip() == b"ready"
        broadcast.setup({"c2c.redis_url": redis_url, "c2c.redis_prefix": redis_prefix})
        results = broadcast.broadcast("tests.whoami", {"greeting": "yo"}, expect_answers=True, timeout=5)
        assert sorted(results or []) == sorted([f"yo from {os.getpid()}", f"yo from {other.pid}"])
    finally:
        other.kill()
        other.wait()
        assert other.stdout is not None
        other.stdout.close()


def test_a_send_only_process_is_not_counted_among_the_receivers(redis_url: str, redis_prefix: str) -> None:
    import redis

    settings = {"c2c.redis_url": redis_url, "c2c.redis_prefix": redis_prefix}
    broadcast.setup(settings, listen=False)  # gunicorn's master, for prometheus.start()
    client = redis.Redis.from_url(redis_url)
    try:
        assert client.pubsub_numsub(f"{redis_prefix}broadcast")[0][1] == 0
        broadcast.subscribe("c2c_test_answer", lambda: 42)
        broadcast.setup(settings)  # the same process now runs broadcast functions: it listens
        assert client.pubsub_numsub(f"{redis_prefix}broadcast")[0][1] == 1
        assert broadcast.broadcast("c2c_test_answer", expect_answers=True, timeout=5) == [42]
    finally:
        broadcast.unsubscribe("c2c_test_answer")
        client.close()


def test_6x_broadcast_counts_only_the_processes_that_subscribed() -> None:
    assert broadcast.broadcast("c2c_test_nobody", {}, expect_answers=True) == []
    broadcast.subscribe("c2c_test_nobody", lambda: {"ok": True})
    try:
        answers = broadcast.broadcast("c2c_test_nobody", {}, expect_answers=True)
        assert answers == [{"ok": True, "hostname": socket.gethostname(), "pid": os.getpid()}]
        assert "error" in broadcast.call("c2c_test_unknown", expect_answers=True)[0]  # 7's answers say why
    finally:
        broadcast.unsubscribe("c2c_test_nobody")
