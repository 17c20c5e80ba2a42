"""The 6.x settings: switches keep their meaning, old spellings are read, the rest refused or warned."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import pytest
from pyramid.config import Configurator
from webtest import TestApp

from c2cwsgiutils import ConfigError, config, v6_settings

SECRET = {"c2c.secret": "s3cret"}


def make_app(settings: Mapping[str, Any]) -> TestApp:
    with Configurator(settings=dict(settings)) as configurator:
        configurator.include("c2cwsgiutils.pyramid")
        return TestApp(configurator.make_wsgi_app())


@pytest.fixture(autouse=True)
def _switches_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    """tests/conftest.py turns the switches on for the rest of the suite: not here."""
    for variable in ("C2C_DEBUG_VIEW_ENABLED", "C2C_LOG_VIEW_ENABLED", "C2C_SQL_PROFILER_ENABLED"):
        monkeypatch.delenv(variable, raising=False)


@pytest.mark.parametrize(
    ("switch", "path"),
    [
        ("c2c.debug_view_enabled", "/c2c/debug/stacks"),
        ("c2c.log_view_enabled", "/c2c/logging/level"),
        ("c2c.sql_profiler_enabled", "/c2c/sql_profiler"),
    ],
)
def test_a_view_switched_off_answers_404(switch: str, path: str) -> None:
    assert make_app({**SECRET, switch: "true"}).get(path, {"secret": "s3cret"}).status_int == 200
    make_app({**SECRET, switch: "false"}).get(path, {"secret": "s3cret"}, status=404)


@pytest.mark.parametrize(
    ("variable", "path"),
    [
        ("C2C_DEBUG_VIEW_ENABLED", "/c2c/debug/stacks"),
        ("C2C_LOG_VIEW_ENABLED", "/c2c/logging/level"),
        ("C2C_SQL_PROFILER_ENABLED", "/c2c/sql_profiler"),
    ],
)
def test_with_only_the_secret_the_internal_views_stay_off_as_in_6(
    variable: str, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_app(SECRET).get(path, {"secret": "s3cret"}, status=404)
    make_app({**SECRET, variable.lower().replace("c2c_", "c2c.", 1): "true"}).get(path, {"secret": "s3cret"})


@pytest.mark.parametrize(
    ("own_secret", "switch", "path"),
    [
        ("c2c.debug_view_secret", "c2c.debug_view_enabled", "/c2c/debug/stacks"),
        ("c2c.log_view_secret", "c2c.log_view_enabled", "/c2c/logging/level"),
        ("c2c.sql_profiler_secret", "c2c.sql_profiler_enabled", "/c2c/sql_profiler"),
    ],
)
def test_the_views_own_0x_secret_turns_it_on_unless_switched_off(
    own_secret: str, switch: str, path: str
) -> None:
    assert make_app({own_secret: "own"}).get(path, {"secret": "own"}).status_int == 200
    make_app({own_secret: "own", switch: "false"}).get(path, {"secret": "own"}, status=404)


def test_a_switch_in_the_environment_turns_the_view_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("C2C_DEBUG_VIEW_ENABLED", "0")
    make_app(SECRET).get("/c2c/debug/stacks", {"secret": "s3cret"}, status=404)


def test_exception_handling_switched_off_leaves_errors_to_pyramid() -> None:
    assert make_app({}).get("/nowhere", status=404).content_type == "application/json"
    assert make_app({"c2c.enable_exception_handling": "0"}).get("/nowhere", status=404).content_type == (
        "text/plain"
    )


def test_an_invalid_switch_fails_start_up_naming_it() -> None:
    with pytest.raises(ConfigError, match="C2C_DEBUG_VIEW_ENABLED"):
        make_app({"c2c.debug_view_enabled": "maybe"})


@pytest.mark.parametrize(
    ("old", "new", "value", "expected"),
    [
        ("DEVELOPMENT", "C2C_DEVELOPMENT", "1", True),
        ("C2C_BROADCAST_PREFIX", "C2C_REDIS_PREFIX", "app2", "app2"),
        ("SENTRY_LEVEL", "SENTRY_EVENT_LEVEL", "WARNING", "warning"),
    ],
)
def test_a_6x_spelling_sets_the_new_setting(
    monkeypatch: pytest.MonkeyPatch, old: str, new: str, value: str, expected: Any
) -> None:
    monkeypatch.delenv(new, raising=False)
    monkeypatch.setenv(old, value)
    assert config.SETTINGS[new].get({}) == expected


def test_the_new_spelling_wins_over_the_old(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("C2C_BROADCAST_PREFIX", "old")
    monkeypatch.setenv("C2C_REDIS_PREFIX", "new")
    assert config.SETTINGS["C2C_REDIS_PREFIX"].get({}) == "new"


def test_use_session_is_refused_at_start_up_in_one_line() -> None:
    with pytest.raises(ConfigError) as info:
        make_app({"c2c.use_session": "true"})
    assert "c2c.use_session is a c2cwsgiutils 6.x setting" in str(info.value)
    assert "\n" not in str(info.value)


def test_github_oauth_partly_configured_is_refused_naming_what_is_missing() -> None:
    with pytest.raises(ConfigError) as info:
        make_app({"c2c.auth.github.client_id": "abc"})
    assert "C2C_AUTH_GITHUB_CLIENT_SECRET" in str(info.value)
    assert "C2C_AUTH_GITHUB_REPOSITORY" in str(info.value)


def test_a_sentry_integration_switched_off_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTRY_INTEGRATION_SQLALCHEMY", "false")
    with pytest.raises(ConfigError, match="SENTRY_INTEGRATION_SQLALCHEMY"):
        config.validate_all({})


def test_a_harmless_6x_setting_is_warned_about_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("C2C_TRACK_REDIS", "true")
    monkeypatch.setattr(v6_settings, "_warned", set())
    with caplog.at_level(logging.WARNING, logger="c2cwsgiutils.v6_settings"):
        config.validate_all({})
        config.validate_all({})
    lines = [r.getMessage() for r in caplog.records if "C2C_TRACK_REDIS" in r.getMessage()]
    assert lines == [
        "C2C_TRACK_REDIS is a c2cwsgiutils 6.x setting, gone: Redis calls are not timed by c2cwsgiutils 7"
    ]


def test_every_6x_setting_is_known() -> None:
    """Each setting 6.1.10 reads is declared, aliased, refused or warned about."""
    from c2cwsgiutils.pyramid import import_features

    import_features()
    known = set(config.SETTINGS) | {old for aliases in config.ALIASES.values() for old, _ in aliases}
    known |= {env for env, _ in v6_settings.REFUSED} | {env for env, _ in v6_settings.WARNED}
    known |= set(v6_settings.READ_DIRECTLY)
    known |= {
        f"SENTRY_INTEGRATION_{name}" for name in ("LOGGING", "PYRAMID", "SQLALCHEMY", "REDIS", "ASYNCIO")
    }
    assert sorted(set(SIX_X_SETTINGS) - known) == []


# The environment variables c2cwsgiutils 6.1.10 reads (from its source), apart from the
# SENTRY_CLIENT_* / SENTRY_TAG_* families and the ini interpolation of its logging template.
SIX_X_SETTINGS = [
    *(
        f"C2C_AUTH_GITHUB_{n}"
        for n in (
            "ACCESS_TYPE",
            "AUTH_URL",
            "CLIENT_ID",
            "CLIENT_SECRET",
            "COOKIE",
            "PROXY_URL",
            "REPOSITORY",
            "REPO_URL",
            "SCOPE",
            "SECRET",
            "TOKEN_URL",
            "USER_URL",
        )
    ),
    "C2C_BASE_PATH",
    "C2C_BROADCAST_PREFIX",
    "C2C_DEBUG_VIEW_ENABLED",
    "C2C_ENABLE_EXCEPTION_HANDLING",
    "C2C_LOG_VIEW_ENABLED",
    "C2C_PROMETHEUS_APPLICATION_PACKAGE",
    "C2C_PROMETHEUS_PACKAGES",
    "C2C_PROMETHEUS_PREFIX",
    "C2C_REDIS_PUBSUB_GET_MESSAGE_TIMEOUT",
    "C2C_REDIS_PUBSUB_RETRY_DELAY",
    "C2C_REDIS_URL",
    "C2C_REQUESTS_DEFAULT_TIMEOUT",
    "C2C_REQUEST_ID_HEADER",
    "C2C_SECRET",
    "C2C_SQL_PROFILER_ENABLED",
    "C2C_SQL_REQUEST_ID",
    "C2C_TRACK_REDIS",
    "C2C_USE_SESSION",
    "C2CWSGIUTILS_CONFIG",
    *(f"C2CWSGIUTILS_FORCE_{n}" for n in ("PROTO", "HOST", "SERVER_NAME", "REMOTE_ADDR")),
    "C2C_DB_MAINTENANCE_VIEW_ENABLED",
    "C2C_JSON_PRETTY_PRINT",
    "C2C_JSON_SORT_KEYS",
    "C2C_PROMETHEUS_PORT",
    "C2C_REDIS_DB",
    "C2C_REDIS_OPTIONS",
    "C2C_REDIS_SENTINELS",
    "C2C_REDIS_SERVICENAME",
    "GIT_HASH",
    "C2CWSGIUTILS_STATS_DB_SLEEP",
    "C2CWSGIUTILS_STATS_DB_TRYNUMBER",
    "DEVELOPMENT",
    "SENTRY_EXCLUDES",
    "SENTRY_LEVEL",
    "SENTRY_TRACES_SAMPLE_RATE",
    "SENTRY_URL",
    "STATS_VIEW",
]


def test_a_6x_ini_key_sets_the_new_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SENTRY_CLIENT_RELEASE", raising=False)
    assert config.SETTINGS["SENTRY_CLIENT_RELEASE"].get({"c2c.git_hash": "abc123"}) == "abc123"
