"""statsd over a real UDP socket."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import webtest

from c2cwsgiutils import stats

MakeApp = Callable[[dict[str, Any]], webtest.TestApp]


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(5)
    yield sock
    sock.close()


def _address(sock: socket.socket) -> str:
    return f"127.0.0.1:{sock.getsockname()[1]}"


def _receive(sock: socket.socket) -> list[str]:
    return sock.recv(65536).decode("utf-8").split("\n")


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_route_and_render_timers_arrive_in_one_datagram(make_app: MakeApp, listener: socket.socket) -> None:
    app = make_app({"c2c.statsd_address": _address(listener), "c2c.statsd_prefix": "svc"})
    app.get("/hello")
    lines = _receive(listener)
    assert [line.split(":")[0] for line in lines] == ["svc.route.GET.hello.200", "svc.render.GET.hello.200"]
    assert all(line.endswith("|ms") for line in lines)


def test_counter_and_gauge_lines(listener: socket.socket) -> None:
    stats.setup({"c2c.statsd_address": _address(listener)})
    stats.increment_counter(["emails", "sent"], 2)
    assert _receive(listener) == ["emails.sent:2|c"]
    stats.set_gauge(["queue"], 7)
    assert _receive(listener) == ["queue:7|g"]


def test_negative_gauge_is_reset_to_zero_first(listener: socket.socket) -> None:
    stats.setup({"c2c.statsd_address": _address(listener)})
    stats.set_gauge(["delta"], -3)
    assert _receive(listener) == ["delta:0|g", "delta:-3|g"]


def test_dogstatsd_tags(listener: socket.socket) -> None:
    stats.setup({"c2c.statsd_address": _address(listener), "c2c.statsd_tag_style": "dogstatsd"})
    stats.increment_counter(["hits"], tags={"route": "hello", "status": "200"})
    assert _receive(listener) == ["hits:1|c|#route:hello,status:200"]


def test_influx_tags(listener: socket.socket) -> None:
    stats.setup({"c2c.statsd_address": _address(listener), "c2c.statsd_tag_style": "influx"})
    stats.increment_counter(["hits"], tags={"route": "hello"})
    assert _receive(listener) == ["hits,route=hello:1|c"]


def test_protocol_characters_in_names_are_replaced(listener: socket.socket) -> None:
    stats.setup({"c2c.statsd_address": _address(listener)})
    stats.increment_counter(["a:b|c", "d e"])
    assert _receive(listener) == ["a_b_c.d_e:1|c"]


def test_request_succeeds_when_nothing_listens(make_app: MakeApp) -> None:
    app = make_app({"c2c.statsd_address": f"127.0.0.1:{_free_udp_port()}"})
    for _ in range(5):  # ICMP port unreachable must not turn into an error on a later send
        assert app.get("/hello").json == {"hello": "world"}


def test_request_succeeds_when_the_address_does_not_resolve(make_app: MakeApp) -> None:
    app = make_app({"c2c.statsd_address": "statsd.invalid:8125"})
    assert app.get("/hello").json == {"hello": "world"}


def test_lines_of_several_requests_share_datagrams(make_app: MakeApp, listener: socket.socket) -> None:
    from c2cwsgiutils.stats.statsd import StatsdBackend

    app = make_app({"c2c.stats_view": "true"})  # a backend from the settings turns the timers on
    stats.add_backend(StatsdBackend(_address(listener), flush_interval=60))
    for _ in range(3):
        app.get("/hello")
    stats.shutdown()  # sends what is pending, long before the 60 s interval
    assert len(_receive(listener)) == 6


def test_pending_lines_are_sent_on_close(listener: socket.socket) -> None:
    stats.setup({"c2c.statsd_address": _address(listener)})
    stats.increment_counter(["last", "words"])
    stats.shutdown()
    assert _receive(listener) == ["last.words:1|c"]


def test_datagrams_stay_under_the_mtu() -> None:
    from c2cwsgiutils.stats.statsd import pack

    lines = [f"metric.{i:04d}:1|c" for i in range(500)]
    packets = pack(lines)
    assert max(len(p) for p in packets) <= 1400
    assert "\n".join(packets).split("\n") == lines


FORKED = """
import os, sys, time
from c2cwsgiutils import stats

stats.setup({"c2c.statsd_address": sys.argv[1]})
pid = os.fork()
if pid == 0:  # the sender thread did not survive the fork: it must have been restarted
    stats.increment_counter(["from", "child"])
    time.sleep(2)  # only a live sender thread can send it: os._exit skips the flush at exit
    os._exit(0)
os.waitpid(pid, 0)
"""


def test_sender_restarts_in_a_forked_child(listener: socket.socket) -> None:
    import subprocess
    import sys

    from tests.helpers import child_env

    subprocess.run(
        [sys.executable, "-c", FORKED, _address(listener)], env=child_env(), check=True, timeout=30
    )
    assert _receive(listener) == ["from.child:1|c"]
