"""6.x's gunicorn.conf.py helpers and its logging template (kwargs with ext:// streams)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

import c2cwsgiutils
from c2cwsgiutils import paste_config

TEMPLATE = """\
[app:app]
use = egg:c2cwsgiutils_demo

[loggers]
keys = root, c2cwsgiutils_app

[handlers]
keys = console, json

[formatters]
keys = generic

[logger_root]
level = %(OTHER_LOG_LEVEL)s
handlers = %(LOG_TYPE)s

[logger_c2cwsgiutils_app]
level = %(LOG_LEVEL)s
handlers =
qualname = c2cwsgiutils_app

[handler_console]
class = logging.StreamHandler
kwargs = {'stream': 'ext://sys.stdout'}
level = NOTSET
formatter = generic

[handler_json]
class = c2cwsgiutils.pyramid_logging.JsonLogHandler
kwargs = {'stream': 'ext://sys.stdout'}
level = NOTSET
formatter = generic

[formatter_generic]
format = %(levelname)-5.5s %(name)s %(message)s
datefmt = [%Y-%m-%d %H:%M:%S %z]
class = logging.Formatter
"""

ENV = {"OTHER_LOG_LEVEL": "INFO", "LOG_LEVEL": "DEBUG"}


@pytest.fixture
def template(tmp_path: Path) -> Path:
    path = tmp_path / "production.ini"
    path.write_text(TEMPLATE)
    return path


@pytest.fixture
def stdout(capsys: pytest.CaptureFixture[str]) -> Iterator[pytest.CaptureFixture[str]]:
    """What is written to ``sys.stdout``; the root logger's handlers are restored afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield capsys
    root.handlers[:] = handlers
    root.setLevel(level)


def test_the_6x_template_logs_plain_text_to_stdout(
    template: Path, stdout: pytest.CaptureFixture[str]
) -> None:
    with pytest.warns(DeprecationWarning, match="pyramid_logging"):  # the json handler is configured too
        assert paste_config.setup_logging(template, {**ENV, "LOG_TYPE": "console"})
    logging.getLogger("c2cwsgiutils_app.views").debug("hello %s", "there")
    assert stdout.readouterr().out == "DEBUG c2cwsgiutils_app.views hello there\n"


def test_the_6x_json_handler_writes_json_despite_its_formatter(
    template: Path, stdout: pytest.CaptureFixture[str]
) -> None:
    with pytest.warns(DeprecationWarning, match="use c2cwsgiutils.logging.json.JsonLogHandler"):
        assert paste_config.setup_logging(template, {**ENV, "LOG_TYPE": "json"})
    logging.getLogger("c2cwsgiutils_app.views").info("hello")
    record = json.loads(stdout.readouterr().out)
    assert (record["msg"], record["logger_name"], record["level_name"]) == (
        "hello",
        "c2cwsgiutils_app.views",
        "INFO",
    )


def test_get_logconfig_dict_gives_gunicorn_a_dict_config(
    template: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in {**ENV, "LOG_TYPE": "console"}.items():
        monkeypatch.setenv(key, value)
    config = c2cwsgiutils.get_logconfig_dict(str(template))
    assert config["handlers"]["console"] == {
        "class": "logging.StreamHandler",
        "level": "NOTSET",
        "formatter": "generic",
        "stream": "ext://sys.stdout",
    }
    assert config["root"] == {"handlers": ["console"], "level": "INFO"}
    assert config["loggers"]["c2cwsgiutils_app"] == {"handlers": [], "level": "DEBUG", "propagate": True}


def test_get_config_defaults_escapes_percent_and_drops_case_duplicates() -> None:
    defaults = c2cwsgiutils.get_config_defaults({"TEST": "%1", "test": "%2", "OTHER": "x"})
    assert defaults == {"TEST": "%%1", "OTHER": "x"}


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["gunicorn", "--paste", "a.ini"], "a.ini"),
        (["gunicorn", "--paster=b.ini"], "b.ini"),
        (["gunicorn"], "from-env.ini"),
    ],
)
def test_get_paste_config_reads_the_command_line_then_the_environment(argv: list[str], expected: str) -> None:
    from c2cwsgiutils.gunicorn_conf import get_paste_config

    assert get_paste_config(argv, {"C2CWSGIUTILS_CONFIG": "from-env.ini"}) == expected
    assert get_paste_config(["gunicorn"], {}) == "production.ini"


def test_6x_tests_can_patch_the_package_environ() -> None:
    from unittest.mock import patch

    with patch.dict("c2cwsgiutils.os.environ", {"VARIABLE": "value%"}):
        assert c2cwsgiutils.get_config_defaults()["VARIABLE"] == "value%%"
