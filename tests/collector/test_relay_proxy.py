"""A relay's reads answered by its upstream: two real collector processes (serve and serve --forward)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from c2cwsgiutils.collector.client import ClientError, CollectorClient, ServerEvent
from tests.collector.records import wire
from tests.collector.serve import serve_collector
from tests.helpers import free_port

UPSTREAM_TOKENS = "relay:writer+reader:up,writeonly:writer:wo,app:writer:wr"
RELAY_TOKENS = "ui:reader:rl,logger:writer:pw"


def _relay(
    directory: Path, upstream: str, forward_token: str = "up"
) -> contextlib.AbstractContextManager[int]:
    env = {
        "C2C_COLLECTOR_TOKENS": RELAY_TOKENS,
        "C2C_COLLECTOR_FORWARD_TOKEN": forward_token,
        "C2C_COLLECTOR_FORWARD_SPOOL_DIR": str(directory / "spool"),
        "C2C_COLLECTOR_FORWARD_BATCH_AGE": "0.05",
    }
    return serve_collector(directory, "--workers", "1", "--forward", upstream, env=env)


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An upstream collector holding three records of request ``req-proxy``."""
    directory = tmp_path_factory.mktemp("upstream")
    with serve_collector(directory, "--workers", "1", env={"C2C_COLLECTOR_TOKENS": UPSTREAM_TOKENS}) as port:
        url = f"http://127.0.0.1:{port}"
        records = [
            wire(f"proxied {n}", created=time.time() - 10 + n, service="proxied", request_id="req-proxy")
            for n in range(3)
        ]
        with contextlib.closing(CollectorClient(url, token="wr")) as writer:
            writer.post_records(records)
        yield url


@pytest.fixture(scope="module")
def relay(upstream: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A relay forwarding to ``upstream`` with a writer+reader token there."""
    with _relay(tmp_path_factory.mktemp("relay"), upstream) as port:
        yield f"http://127.0.0.1:{port}"


@pytest.fixture
def clients() -> Iterator[list[CollectorClient]]:
    """Clients to close after the test (each keeps a keep-alive connection)."""
    made: list[CollectorClient] = []
    yield made
    for client in made:
        client.close()


def _client(clients: list[CollectorClient], url: str, token: str) -> CollectorClient:
    clients.append(CollectorClient(url, token=token))
    return clients[-1]


def test_queries_through_the_relay_answer_the_upstream_records(
    upstream: str, relay: str, clients: list[CollectorClient]
) -> None:
    direct, relayed = _client(clients, upstream, "up"), _client(clients, relay, "rl")
    query = {"query": "service = proxied"}
    records = relayed.get_json("/api/v1/record", query)
    first = records[0]["id"]
    assert [r["message"] for r in records] == ["proxied 2", "proxied 1", "proxied 0"]
    assert records == direct.get_json("/api/v1/record", query)
    assert relayed.head("/api/v1/record", query)["X-Record-Count"] == "3"
    assert relayed.get_json(f"/api/v1/record/{first}") == direct.get_json(f"/api/v1/record/{first}")
    assert relayed.get_json("/api/v1/request/req-proxy")["count"] == 3
    assert relayed.get_json("/api/v1/status")["records"] >= 3


def test_upstream_errors_of_the_caller_come_back_as_they_are(
    relay: str, clients: list[CollectorClient]
) -> None:
    with pytest.raises(ClientError) as caught:
        _client(clients, relay, "rl").get_json("/api/v1/record", {"query": 'message ~ "open'})
    assert (caught.value.status, "unterminated string" in str(caught.value)) == (400, True)


def test_the_relay_checks_its_own_reader_credentials_first(
    relay: str, clients: list[CollectorClient]
) -> None:
    with pytest.raises(ClientError) as caught:
        _client(clients, relay, "up").get_json("/api/v1/record")  # upstream's token, not the relay's
    assert caught.value.status == 401


def _events_until(
    client: CollectorClient, params: dict[str, str], wanted: str, last_id: str | None
) -> list[ServerEvent]:
    events: list[ServerEvent] = []
    for event in client.stream({**params, "timeout": "20"}, last_event_id=last_id, read_timeout=30):
        events.append(event)
        if wanted in event.data:
            break
    return events


def test_the_stream_through_the_relay_delivers_a_record_posted_to_the_relay(
    relay: str, clients: list[CollectorClient]
) -> None:
    reader = _client(clients, relay, "rl")
    params = {"query": "service = streamed"}
    events: list[ServerEvent] = []
    started = threading.Event()

    def listen() -> None:
        for event in reader.stream({**params, "timeout": "20"}, read_timeout=30):
            started.set()  # the first block (an id, no data) marks where the stream starts
            events.append(event)
            if "live 1" in event.data:
                break

    listening = threading.Thread(target=listen)
    listening.start()
    # A record posted before the stream's start would rightly not be streamed.
    assert started.wait(30), "the stream through the relay did not start"
    _client(clients, relay, "pw").post_records([wire("live 1", service="streamed", created=time.time())])
    listening.join(40)
    records = [event for event in events if event.event == "record"]
    assert [r.data.count('"live 1"') for r in records] == [1]
    # Last-Event-ID goes through the relay: resuming before the record sends it again, once.
    resumed = _events_until(reader, params, "live 1", str(int(records[0].id or 0) - 1))
    assert [event.id for event in resumed if event.event == "record"] == [records[0].id]


def test_an_upstream_that_refuses_the_relay_token_is_a_502_that_says_so(
    upstream: str, tmp_path: Path, clients: list[CollectorClient]
) -> None:
    with _relay(tmp_path, upstream, forward_token="wo") as port, pytest.raises(ClientError) as caught:
        _client(clients, f"http://127.0.0.1:{port}", "rl").get_json("/api/v1/record")
    assert caught.value.status == 502
    assert "give C2C_COLLECTOR_FORWARD_TOKEN the reader role" in str(caught.value)


def test_an_upstream_that_went_down_is_a_json_502(tmp_path: Path, clients: list[CollectorClient]) -> None:
    (tmp_path / "up").mkdir()
    with contextlib.ExitStack() as upstream_process:
        port = upstream_process.enter_context(serve_collector(tmp_path / "up"))
        with _relay(tmp_path, f"http://127.0.0.1:{port}", forward_token="") as relay_port:
            client = _client(clients, f"http://127.0.0.1:{relay_port}", "rl")
            assert client.get_json("/api/v1/record") == []
            upstream_process.close()
            with pytest.raises(ClientError) as caught:
                client.get_json("/api/v1/record")
    assert caught.value.status == 502
    assert f"cannot reach the upstream collector http://127.0.0.1:{port}" in str(caught.value)


def test_a_relay_whose_upstream_never_listened_answers_502_for_the_stream(
    tmp_path: Path, clients: list[CollectorClient]
) -> None:
    with _relay(tmp_path, f"http://127.0.0.1:{free_port()}") as port, pytest.raises(ClientError) as caught:
        list(_client(clients, f"http://127.0.0.1:{port}", "rl").stream({"timeout": "1"}))
    assert caught.value.status == 502
