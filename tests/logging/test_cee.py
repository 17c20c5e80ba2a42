from __future__ import annotations

import json
import logging
import socket
from collections.abc import Iterator

import pytest

from c2cwsgiutils import context
from c2cwsgiutils.logging import CeeSysLogHandler


@pytest.fixture
def receiver() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(5)
    yield sock
    sock.close()


@pytest.fixture
def cee_logger(receiver: socket.socket) -> Iterator[logging.Logger]:
    handler = CeeSysLogHandler(("127.0.0.1", receiver.getsockname()[1]), service="svc")
    logger = logging.getLogger("tests.cee")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    yield logger
    logger.removeHandler(handler)
    handler.close()
    logger.propagate = True


def receive(sock: socket.socket) -> tuple[str, dict[str, object]]:
    datagram = sock.recv(65535).decode("utf-8")
    priority, rest = datagram.split(">", 1)
    assert rest.startswith("@cee: ")
    return priority + ">", json.loads(rest[len("@cee: ") :])


def test_a_record_arrives_as_cee_json(receiver: socket.socket, cee_logger: logging.Logger) -> None:
    with context.bind(request_id="cee-rid"):
        cee_logger.warning("over %s", "udp", extra={"key": "value"})
    priority, data = receive(receiver)
    assert priority == "<12>"  # facility user (1) * 8 + warning (4)
    assert data["msg"] == "over udp"
    assert data["request_id"] == "cee-rid"
    assert data["key"] == "value"
    assert data["service"] == "svc"
    assert data["level"] == 4


def test_an_error_has_the_error_priority(receiver: socket.socket, cee_logger: logging.Logger) -> None:
    cee_logger.error("bad")
    assert receive(receiver)[0] == "<11>"


def test_a_huge_record_is_cut_to_fit_a_datagram(receiver: socket.socket, cee_logger: logging.Logger) -> None:
    cee_logger.info("x" * 200_000)
    _, data = receive(receiver)
    assert data["truncated"] is True
    assert str(data["msg"]).startswith("xxxx")
    assert len(str(data["msg"])) < 10_000
