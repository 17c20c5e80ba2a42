"""The collector API's one HTTP client: URL parsing, credentials, keep-alive and its retry rule."""

from __future__ import annotations

import base64
import contextlib
import socket
import threading
from collections.abc import Callable, Iterator

import pytest

from c2cwsgiutils.collector.client import ClientError, CollectorClient, Endpoint, KeepAlive
from c2cwsgiutils.collector.relay.proxy import Upstream
from c2cwsgiutils.logging.collector_transport import Outcome, Transport

_BODY = b'{"stored": 1, "duplicates": 0, "errors": []}'
_ANSWER = b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (
    len(_BODY),
    _BODY,
)


class ScriptedServer:
    """A raw TCP server: each accepted connection is handled by ``script(connection, number)``."""

    def __init__(self, script: Callable[[socket.socket, int], None], family: int = socket.AF_INET) -> None:
        self.listener = socket.socket(family, socket.SOCK_STREAM)
        self.listener.bind(("::1" if family == socket.AF_INET6 else "127.0.0.1", 0))
        self.listener.listen(8)
        self.listener.settimeout(10)
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        self.requests: list[bytes] = []
        self.failures = 0
        self._script = script
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        for number in range(1, 10):  # bounded: a test opens a few connections at most
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.connections = number
            with connection:
                connection.settimeout(10)
                try:
                    self._script(connection, number)
                except OSError:
                    self.failures += 1

    def read_request(self, connection: socket.socket) -> bytes:
        data = b""
        while b"\r\n\r\n" not in data and len(data) < 65536:
            chunk = connection.recv(4096)
            if not chunk:
                return data
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(rest) < length:
            chunk = connection.recv(4096)
            if not chunk:
                break
            rest += chunk
        self.requests.append(head)
        return head

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() up
        self.listener.close()
        self._thread.join(10)
        assert self.failures == 0


@pytest.fixture
def server_factory() -> Iterator[Callable[..., ScriptedServer]]:
    servers: list[ScriptedServer] = []

    def make(script: Callable[[socket.socket, int], None], family: int = socket.AF_INET) -> ScriptedServer:
        server = ScriptedServer(script, family)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()


def test_endpoint_brackets_an_ipv6_literal_and_never_shows_the_password() -> None:
    endpoint = Endpoint("https://user:s%3Acret@[::1]/logs/")
    assert endpoint.netloc == "[::1]"
    assert endpoint.url == "https://[::1]/logs"
    assert endpoint.prefix == "/logs"
    assert endpoint.basic == "Basic " + base64.b64encode(b"user:s:cret").decode()


def test_endpoint_sends_the_token_before_the_url_user() -> None:
    endpoint = Endpoint("http://user:pw@collector:8090")
    assert endpoint.authorization("tok") == "Bearer tok"
    assert endpoint.authorization("") == endpoint.basic


@pytest.mark.parametrize("url", ["collector:8090", "ftp://collector", "http://"])
def test_endpoint_refuses_what_is_not_http(url: str) -> None:
    with pytest.raises(ValueError, match=r"http\(s\)://host"):
        Endpoint(url)


def test_a_connection_closed_while_idle_is_retried_once(
    server_factory: Callable[..., ScriptedServer],
) -> None:
    def script(connection: socket.socket, number: int) -> None:
        server.read_request(connection)
        connection.sendall(_ANSWER)  # a keep-alive answer, then the server drops the connection

    server = server_factory(script)
    keep_alive = KeepAlive(Endpoint(f"http://127.0.0.1:{server.port}"), timeout=10)
    assert keep_alive.exchange("POST", "/api/v1/record", b"{}")[0] == 201
    assert keep_alive.exchange("POST", "/api/v1/record", b"{}")[0] == 201
    assert server.connections == 2
    keep_alive.close()


def test_a_fresh_connection_that_breaks_is_not_retried(server_factory: Callable[..., ScriptedServer]) -> None:
    def script(connection: socket.socket, number: int) -> None:
        server.read_request(connection)  # then closes without an answer

    server = server_factory(script)
    client = CollectorClient(f"http://127.0.0.1:{server.port}", token="")
    with pytest.raises(ClientError, match="cannot reach the collector"):
        client.get_json("/api/v1/status")
    client.close()
    assert server.connections == 1
    assert len(server.requests) == 1


def test_the_cli_client_reaches_an_ipv6_collector(server_factory: Callable[..., ScriptedServer]) -> None:
    def script(connection: socket.socket, number: int) -> None:
        server.read_request(connection)
        connection.sendall(_ANSWER)

    server = server_factory(script, socket.AF_INET6)
    client = CollectorClient(f"http://[::1]:{server.port}", token="t")
    assert client.base_url == f"http://[::1]:{server.port}"
    assert client.get_json("/api/v1/status")["stored"] == 1
    client.close()
    assert b"authorization: bearer t" in server.requests[0].lower()


def test_the_shipping_transport_sends_the_url_user_as_basic(
    server_factory: Callable[..., ScriptedServer],
) -> None:
    def script(connection: socket.socket, number: int) -> None:
        server.read_request(connection)
        connection.sendall(_ANSWER)

    server = server_factory(script)
    transport = Transport(f"http://shipper:pw@127.0.0.1:{server.port}/prefix")
    result = transport.post(['{"msg": "x"}'])
    transport.close()
    assert result.outcome is Outcome.SENT
    head = server.requests[0]
    assert head.startswith(b"POST /prefix/api/v1/record ")
    assert b"Basic " + base64.b64encode(b"shipper:pw") in head


def test_the_relay_upstream_names_the_url_without_its_password() -> None:
    upstream = Upstream("http://relay:secret@[::1]:9/base/", "tok")
    assert upstream.url == "http://[::1]:9/base"
