from __future__ import annotations

import pytest

from c2cwsgiutils import config

FLAG = config.declare("C2C_TEST_FLAG", "c2c.test_flag", False, config.as_bool, "test only", feature="test")
TOKEN = config.declare(
    "C2C_TEST_TOKEN", "c2c.test_token", "", config.as_str, "test only", secret=True, feature="test"
)
COUNT = config.declare(
    "C2C_TEST_COUNT", "c2c.test_count", 3, config.bounded(config.as_int, 1, 10), "test only", feature="test"
)


@pytest.mark.parametrize("raw", ["true", "TRUE", "Yes", "on", "1", " true "])
def test_true_booleans(raw: str) -> None:
    assert FLAG.get({}, {"C2C_TEST_FLAG": raw}) is True


@pytest.mark.parametrize("raw", ["false", "No", "OFF", "0"])
def test_false_booleans(raw: str) -> None:
    assert FLAG.get({}, {"C2C_TEST_FLAG": raw}) is False


def test_invalid_boolean_names_variable_value_and_accepted() -> None:
    with pytest.raises(config.ConfigError) as error:
        FLAG.get({}, {"C2C_TEST_FLAG": "maybe"})
    message = str(error.value)
    assert message == (
        "C2C_TEST_FLAG (ini: c2c.test_flag) must be one of true/false/yes/no/on/off/1/0 (got 'maybe')"
    )
    assert "\n" not in message


def test_env_beats_ini_beats_default() -> None:
    assert FLAG.get({"c2c.test_flag": "true"}, {"C2C_TEST_FLAG": "false"}) is False
    assert FLAG.get({"c2c.test_flag": "true"}, {}) is True
    assert FLAG.get({}, {}) is False


def test_empty_env_falls_back_to_ini() -> None:
    assert COUNT.get({"c2c.test_count": "5"}, {"C2C_TEST_COUNT": ""}) == 5


def test_bounds_are_enforced() -> None:
    with pytest.raises(config.ConfigError, match=r"an integer >= 1 <= 10 \(got '11'\)"):
        COUNT.get({}, {"C2C_TEST_COUNT": "11"})


def test_secret_value_is_never_in_the_message() -> None:
    secret_count = config.Setting(
        "C2C_TEST_S", "c2c.test_s", 0, config.as_int, "test", secret=True, feature="test"
    )
    with pytest.raises(config.ConfigError) as error:
        secret_count.get({}, {"C2C_TEST_S": "hunter2"})
    assert "hunter2" not in str(error.value)
    assert "(value hidden)" in str(error.value)


def test_base_path_is_normalised_and_validated() -> None:
    assert config.BASE_PATH.get({}, {"C2C_BASE_PATH": "/ops/"}) == "/ops"
    with pytest.raises(config.ConfigError, match="C2C_BASE_PATH"):
        config.BASE_PATH.get({}, {"C2C_BASE_PATH": "ops"})


def test_programmatic_python_values_are_accepted() -> None:
    assert FLAG.get({"c2c.test_flag": True}, {}) is True
    assert COUNT.get({"c2c.test_count": 4}, {}) == 4


def test_validate_all_reports_the_first_bad_setting() -> None:
    with pytest.raises(config.ConfigError, match="C2C_TEST_COUNT"):
        config.validate_all({}, {"C2C_TEST_COUNT": "zero"})
