"""Redis through Sentinel (6.x's C2C_REDIS_SENTINELS ...): a private redis-server and sentinel."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from c2cwsgiutils import ConfigError, broadcast, redis_client
from c2cwsgiutils.config import Setting
from tests.helpers import child_env, free_port, redis_server_argv, start_process, stop_process, wait_port


@pytest.fixture(scope="module")
def sentinel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, int]]:
    """A private redis-server and a sentinel monitoring it as ``mymaster``."""
    work = tmp_path_factory.mktemp("sentinel")
    redis_port, sentinel_port = free_port(), free_port()
    server = start_process(
        redis_server_argv(redis_port),
        log=work / "redis.log",
    )
    conf = work / "sentinel.conf"
    conf.write_text(
        f"port {sentinel_port}\nbind 127.0.0.1\ndir {work}\n"
        f"sentinel monitor mymaster 127.0.0.1 {redis_port} 1\n"
    )
    # redis-sentinel is redis-server in sentinel mode; the binary of that name is not always there.
    watcher = start_process(["redis-server", str(conf), "--sentinel"], log=work / "sentinel.log")
    try:
        wait_port(redis_port, process=server)
        wait_port(sentinel_port, process=watcher)
        client = redis.Redis(port=sentinel_port)
        deadline = time.monotonic() + 20
        while client.execute_command("SENTINEL", "get-master-addr-by-name", "mymaster") is None:
            assert time.monotonic() < deadline, "the sentinel did not learn its master"
            time.sleep(0.05)
        client.close()
        yield {"redis": redis_port, "sentinel": sentinel_port}
    finally:
        stop_process(watcher)
        stop_process(server)


LISTENER = textwrap.dedent(
    """
    import os, sys, time
    from c2cwsgiutils import broadcast

    @broadcast.decorator(expect_answers=True, name="tests.sentinel_pid")
    def pid():
        return os.getpid()

    settings = {"c2c.redis_sentinels": sys.argv[1], "c2c.redis_db": "3"}
    broadcast.setup({**settings, "c2c.redis_prefix": "sentinel:"})
    print("ready", flush=True)
    time.sleep(30)
    """
)


@broadcast.decorator(expect_answers=True, timeout=5, name="tests.sentinel_pid")
def pid() -> int:
    return os.getpid()


def test_broadcast_reaches_every_process_through_the_sentinels(sentinel: dict[str, int]) -> None:
    address = f"127.0.0.1:{sentinel['sentinel']}"
    other = subprocess.Popen(
        [sys.executable, "-c", LISTENER, address], env=child_env(), stdout=subprocess.PIPE
    )
    try:
        assert other.stdout is not None
        assert other.stdout.readline().strip() == b"ready"
        broadcast.setup(
            {"c2c.redis_sentinels": address, "c2c.redis_db": "3", "c2c.redis_prefix": "sentinel:"}
        )
        assert sorted(a["result"] for a in pid()) == sorted([os.getpid(), other.pid])
        # Both listeners are connections of the private server, on database 3.
        clients = redis.Redis(port=sentinel["redis"]).client_list()
        ours = {c["name"]: c["db"] for c in clients if c["name"].startswith("c2cwsgiutils-broadcast-")}
        assert ours == {
            f"c2cwsgiutils-broadcast-{os.getpid()}": "3",
            f"c2cwsgiutils-broadcast-{other.pid}": "3",
        }
    finally:
        other.kill()
        other.wait()
        assert other.stdout is not None
        other.stdout.close()


def test_options_and_service_name_reach_the_client(sentinel: dict[str, int]) -> None:
    client = redis_client.make_client(
        {
            "c2c.redis_sentinels": f"127.0.0.1:{sentinel['sentinel']}",
            "c2c.redis_servicename": "mymaster",
            "c2c.redis_options": "client_name=opts-test,socket_timeout=4.5",
        }
    )
    assert client.ping() is True
    assert client.client_getname() == "opts-test"
    assert client.connection_pool.connection_kwargs["socket_timeout"] == 4.5
    client.close()


def test_an_unknown_service_name_fails_on_first_use(sentinel: dict[str, int]) -> None:
    client = redis_client.make_client(
        {"c2c.redis_sentinels": f"127.0.0.1:{sentinel['sentinel']}", "c2c.redis_servicename": "nobody"}
    )
    with pytest.raises(redis.sentinel.MasterNotFoundError):
        client.ping()


@pytest.mark.parametrize(
    ("key", "value", "env"),
    [
        ("c2c.redis_sentinels", "redis-without-port", "C2C_REDIS_SENTINELS"),
        ("c2c.redis_options", "socket_timeout", "C2C_REDIS_OPTIONS"),
        ("c2c.redis_db", "-2", "C2C_REDIS_DB"),
    ],
)
def test_bad_values_fail_start_up_naming_the_variable(key: str, value: str, env: str) -> None:
    settings: dict[str, Setting[Any]] = {
        "C2C_REDIS_SENTINELS": redis_client.REDIS_SENTINELS,
        "C2C_REDIS_OPTIONS": redis_client.REDIS_OPTIONS,
        "C2C_REDIS_DB": redis_client.REDIS_DB,
    }
    with pytest.raises(ConfigError, match=env):
        settings[env].get({key: value})


def test_configured_names_the_redis_without_secrets() -> None:
    assert redis_client.configured({"c2c.redis_sentinels": "a:26379,b:26379"}) == "a:26379,b:26379"
    assert redis_client.configured({"c2c.redis_url": "redis://:pw@host:6380/1"}) == "host:6380"
    assert redis_client.configured({}) == ""


def test_health_check_pings_the_master_the_sentinels_announce(sentinel: dict[str, int]) -> None:
    from pyramid.config import Configurator
    from webtest import TestApp

    from c2cwsgiutils.health_check import HealthCheck

    config = Configurator(settings={"c2c.redis_sentinels": f"127.0.0.1:{sentinel['sentinel']}"})
    HealthCheck(config).add_redis_check()
    report = TestApp(config.make_wsgi_app()).get("/c2c/health_check").json
    assert list(report["successes"]) == ["redis"]
