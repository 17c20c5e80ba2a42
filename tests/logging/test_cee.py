from __future__ import annotations

import json
import logging
import socket
from collections.abc import Iterator

import pytest

from c2cwsgiutils import context
from c2cwsgiutils.logging import CeeSysLogHandler
from c2cwsgiutils.logging.cee import MAX_DATAGRAM, CeeFormatter


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
    assert str(data["msg"]).endswith("...[truncated]")
    assert 50_000 < len(str(data["msg"])) < MAX_DATAGRAM


def receive_bytes(sock: socket.socket) -> bytes:
    return sock.recv(65535)


def test_ten_long_fields_are_cut_field_by_field_into_valid_json(
    receiver: socket.socket, cee_logger: logging.Logger
) -> None:
    extra = {f"field{i}": chr(ord("a") + i) * 8_000 for i in range(10)}
    cee_logger.info("ten fields", extra=extra)
    datagram = receive_bytes(receiver)
    assert len(datagram) <= MAX_DATAGRAM + 8  # the "<PRI>" prefix
    data = json.loads(datagram.decode("utf-8").split(">", 1)[1][len("@cee: ") :])
    assert data["msg"] == "ten fields"
    assert data["truncated"] is True
    assert all(str(data[f"field{i}"]).startswith(chr(ord("a") + i) * 100) for i in range(10))


def test_size_is_counted_in_bytes(receiver: socket.socket, cee_logger: logging.Logger) -> None:
    cee_logger.info("€" * 25_000)  # 75,000 bytes: more than a datagram holds
    datagram = receive_bytes(receiver)
    assert len(datagram) <= MAX_DATAGRAM + 8
    data = json.loads(datagram.decode("utf-8").split(">", 1)[1][len("@cee: ") :])
    assert str(data["msg"]).startswith("€€€")


@pytest.mark.parametrize("value", ['"' * 30_000, "\\x00" * 9_000, "é\n" * 20_000, "x"])
def test_any_record_fits_as_valid_json(value: str) -> None:
    formatter = CeeFormatter(max_size=4_000)
    record = logging.LogRecord("n", logging.INFO, "f", 1, value, None, None)
    record.other = {"nested": [value] * 3}
    text = formatter.format(record)
    assert len(text.encode("utf-8")) <= 4_000
    json.loads(text[len("@cee: ") :])
