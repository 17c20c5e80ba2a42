"""Loading ini files: environment interpolation, [DEFAULT] fallbacks, one-line errors, logging."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from c2cwsgiutils import paste_config
from c2cwsgiutils.paste_config import IniError

APP_INI = """\
[DEFAULT]
GREETING = default greeting

[app:main]
use = call:tests.test_paste_config:app_factory
greeting = %(GREETING)s
home = %(TEST_HOME)s
here_dir = %(here)s
"""


def app_factory(global_config: dict[str, str], **settings: str) -> object:
    """A PasteDeploy app factory that returns its settings (enough to test the loading)."""
    return {"settings": settings}


@pytest.fixture
def ini(tmp_path: Path) -> Path:
    path = tmp_path / "app.ini"
    path.write_text(APP_INI)
    return path


def test_environment_variables_are_interpolated(ini: Path) -> None:
    settings = paste_config.load_settings(ini, environ={"TEST_HOME": "/home/me"})
    assert settings["home"] == "/home/me"


def test_percent_in_an_environment_value_is_kept(ini: Path) -> None:
    settings = paste_config.load_settings(ini, environ={"TEST_HOME": "100% %(here)s %%"})
    assert settings["home"] == "100% %(here)s %%"


def test_default_section_gives_a_fallback(ini: Path) -> None:
    assert paste_config.load_settings(ini, environ={"TEST_HOME": ""})["greeting"] == "default greeting"


def test_environment_beats_the_default_section(ini: Path) -> None:
    settings = paste_config.load_settings(ini, environ={"TEST_HOME": "", "GREETING": "from env"})
    assert settings["greeting"] == "from env"


def test_here_is_the_directory_of_the_ini(ini: Path) -> None:
    assert str(ini.parent) == paste_config.load_settings(ini, environ={"TEST_HOME": ""})["here_dir"]


def test_environment_variables_are_not_settings(ini: Path) -> None:
    settings = paste_config.load_settings(ini, environ={"TEST_HOME": "", "OTHER": "x"})
    assert {"greeting", "home", "here_dir"} == set(settings)


def test_get_app_calls_the_factory_with_the_settings(ini: Path) -> None:
    app = paste_config.get_app(ini, environ={"TEST_HOME": "/h"})
    assert app["settings"]["home"] == "/h"  # type: ignore[index]


def test_missing_variable_is_a_one_line_error(ini: Path) -> None:
    with pytest.raises(IniError) as error:
        paste_config.load_settings(ini, environ={})
    assert "TEST_HOME" in str(error.value)
    assert "\n" not in str(error.value)


def test_missing_file_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(IniError, match=r"^ini file .*missing\.ini not found"):
        paste_config.resolve_ini(tmp_path / "missing.ini")


def test_resolve_uses_the_environment_variable(ini: Path) -> None:
    assert ini == paste_config.resolve_ini(None, environ={"C2CWSGIUTILS_CONFIG": str(ini)})


def test_resolve_defaults_to_app_production_ini() -> None:
    with pytest.raises(IniError, match=r"^ini file /app/production\.ini not found"):
        paste_config.resolve_ini(None, environ={})


def test_unparsable_file_is_a_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.ini"
    path.write_text("this is not\n  an ini file [[\n")
    with pytest.raises(IniError) as error:
        paste_config.load_settings(path, environ={})
    assert str(error.value).startswith(f"broken ini file {path}")
    assert "\n" not in str(error.value)


def test_file_without_app_section_is_a_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "noapp.ini"
    path.write_text("[server:main]\nport = 1\n")
    with pytest.raises(IniError, match=r"^broken ini file .*\[app:main\]"):
        paste_config.load_settings(path, environ={})


def test_unknown_egg_is_a_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "egg.ini"
    path.write_text("[app:main]\nuse = egg:no_such_distribution_c2c\n")
    with pytest.raises(IniError, match=r"no_such_distribution_c2c"):
        paste_config.load_settings(path, environ={})


def test_read_ini_gives_other_sections_interpolated(tmp_path: Path) -> None:
    path = tmp_path / "tool.ini"
    path.write_text("[collector]\nurl = %(COLLECTOR_URL)s/api\n")
    assert paste_config.read_ini(path, {"COLLECTOR_URL": "http://x"})["collector"]["url"] == "http://x/api"


LOGGING_INI = """\
[app:main]
use = call:tests.test_paste_config:app_factory

[loggers]
keys = root, sample

[handlers]
keys = file

[formatters]
keys = plain

[logger_root]
level = WARNING
handlers = file

[logger_sample]
level = %(SAMPLE_LEVEL)s
handlers =
qualname = c2c_test_sample

[handler_file]
class = FileHandler
args = ('%(LOG_FILE)s', 'a')
formatter = plain

[formatter_plain]
format = PLAIN %(levelname)s %(name)s %(message)s
"""


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    yield
    for handler in root.handlers:
        if handler not in saved_handlers:
            handler.close()
    root.handlers[:] = saved_handlers
    root.setLevel(saved_level)
    logging.getLogger("c2c_test_sample").setLevel(logging.NOTSET)


@pytest.mark.usefixtures("restore_logging")
def test_setup_logging_uses_the_logging_sections_and_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "logging.ini"
    path.write_text(LOGGING_INI)
    log_file = tmp_path / "out.log"
    assert paste_config.setup_logging(path, {"SAMPLE_LEVEL": "DEBUG", "LOG_FILE": str(log_file)})
    logging.getLogger("c2c_test_sample").debug("hello %s", "there")
    logging.getLogger("c2c_test_other").info("filtered out by the root level")
    for handler in logging.getLogger().handlers:
        handler.flush()
    assert log_file.read_text() == "PLAIN DEBUG c2c_test_sample hello there\n"


def test_setup_logging_without_logging_sections_changes_nothing(ini: Path) -> None:
    handlers = logging.getLogger().handlers[:]
    assert paste_config.setup_logging(ini, {}) is False
    assert handlers == logging.getLogger().handlers


def test_broken_logging_sections_are_a_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "badlog.ini"
    path.write_text("[loggers]\nkeys = root\n\n[handlers]\nkeys = nope\n\n[formatters]\nkeys =\n")
    with pytest.raises(IniError, match=r"^broken logging configuration in ") as error:
        paste_config.setup_logging(path, {})
    assert "\n" not in str(error.value)
