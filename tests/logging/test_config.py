"""The handlers and formatters are usable from dictConfig and from ini files (fileConfig)."""

from __future__ import annotations

import io
import json
import logging
import logging.config
import socket
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from c2cwsgiutils import context
from c2cwsgiutils.logging import CeeSysLogHandler, ContextFilter, JsonLogHandler


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
        if handler not in handlers:
            handler.close()
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    for handler in logging.getLogger("tests.config").handlers:
        handler.close()
    logging.getLogger("tests.config").handlers.clear()


@pytest.fixture
def udp() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(5)
    yield sock
    sock.close()


def test_dict_config_builds_the_json_handler(
    restore_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "handlers": {
                "json": {"class": "c2cwsgiutils.logging.JsonLogHandler", "stream": "ext://sys.stdout"}
            },
            "loggers": {"tests.config": {"handlers": ["json"], "level": "INFO", "propagate": False}},
        }
    )
    with context.bind(request_id="dict-config"):
        logging.getLogger("tests.config").info("configured", extra={"k": 1})
    line = json.loads(capsys.readouterr().out)
    assert (line["msg"], line["request_id"], line["k"]) == ("configured", "dict-config", 1)


def test_dict_config_with_the_filter_and_a_text_format(restore_logging: None) -> None:
    stream = io.StringIO()
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "filters": {"context": {"()": "c2cwsgiutils.logging.ContextFilter"}},
            "formatters": {"text": {"format": "%(request_id)s %(message)s"}},
            "handlers": {
                "text": {
                    "class": "logging.StreamHandler",
                    "stream": stream,
                    "formatter": "text",
                    "filters": ["context"],
                }
            },
            "loggers": {"tests.config": {"handlers": ["text"], "level": "INFO", "propagate": False}},
        }
    )
    with context.bind(request_id="text-id"):
        logging.getLogger("tests.config").info("hello")
    logging.getLogger("tests.config").info("outside")
    assert stream.getvalue() == "text-id hello\n outside\n"


def test_dict_config_json_formatter_on_any_handler(restore_logging: None) -> None:
    stream = io.StringIO()
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {"json": {"class": "c2cwsgiutils.logging.JsonFormatter"}},
            "handlers": {"h": {"class": "logging.StreamHandler", "stream": stream, "formatter": "json"}},
            "loggers": {"tests.config": {"handlers": ["h"], "level": "INFO", "propagate": False}},
        }
    )
    logging.getLogger("tests.config").warning("as json")
    assert json.loads(stream.getvalue())["msg"] == "as json"


def test_dict_config_builds_the_cee_handler(restore_logging: None, udp: socket.socket) -> None:
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "handlers": {
                "cee": {
                    "class": "c2cwsgiutils.logging.CeeSysLogHandler",
                    "address": ["127.0.0.1", udp.getsockname()[1]],
                    "facility": "local0",
                }
            },
            "loggers": {"tests.config": {"handlers": ["cee"], "level": "INFO", "propagate": False}},
        }
    )
    logging.getLogger("tests.config").info("to syslog")
    datagram = udp.recv(65535).decode()
    assert datagram.startswith("<134>@cee: ")  # local0 (16) * 8 + info (6)
    assert json.loads(datagram.split("@cee: ", 1)[1])["msg"] == "to syslog"


INI = """
[loggers]
keys = root, tests

[handlers]
keys = json, text, cee

[formatters]
keys = generic

[logger_root]
level = WARNING
handlers =

[logger_tests]
level = INFO
handlers = json, text, cee
qualname = tests.config
propagate = 0

[handler_json]
class = c2cwsgiutils.logging.JsonLogHandler
args = (sys.stdout,)

[handler_text]
class = StreamHandler
args = (sys.stderr,)
formatter = generic

[handler_cee]
class = c2cwsgiutils.logging.CeeSysLogHandler
args = (("127.0.0.1", {port}),)

[formatter_generic]
class = c2cwsgiutils.logging.ContextFormatter
format = %(levelname)s [%(request_id)s] %(message)s
"""


def test_file_config_builds_the_handlers_and_formatter(
    restore_logging: None, tmp_path: Path, udp: socket.socket, capsys: pytest.CaptureFixture[str]
) -> None:
    ini = tmp_path / "logging.ini"
    ini.write_text(textwrap.dedent(INI).format(port=udp.getsockname()[1]))
    logging.config.fileConfig(ini, disable_existing_loggers=False)
    logger = logging.getLogger("tests.config")
    assert [type(handler) for handler in logger.handlers] == [
        JsonLogHandler,
        logging.StreamHandler,
        CeeSysLogHandler,
    ]
    with context.bind(request_id="from-ini"):
        logger.info("ini")
    out, err = capsys.readouterr()
    assert json.loads(out)["request_id"] == "from-ini"
    assert err == "INFO [from-ini] ini\n"
    assert json.loads(udp.recv(65535).decode().split("@cee: ", 1)[1])["request_id"] == "from-ini"
    assert sys.stdout is not None


def test_the_filter_is_a_plain_logging_filter() -> None:
    assert issubclass(ContextFilter, logging.Filter)
