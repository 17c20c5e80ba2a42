"""Internal. The settings of c2cwsgiutils 6.x: each one honoured, or refused at start-up in one line.

- The 6.x ``*_ENABLED`` switches keep their meaning: the debug, log-level and SQL-profiler views are
  included only when their switch is true (unset: off, as in 6.x, unless the view's own 0.x secret
  such as ``LOG_VIEW_SECRET`` is set), and then need their secret; the
  JSON error views are on unless ``C2C_ENABLE_EXCEPTION_HANDLING`` is false.
- 6.x spellings of settings that 7 has under another name are read when the new name is unset
  (:data:`c2cwsgiutils.config.ALIASES`).
- Every other 6.x setting found in the environment or the ini is either refused (start-up fails
  with one line per setting naming what to do) when ignoring it would change what the
  application does, or reported by one warning line when its loss is harmless.

:func:`check` runs with :func:`c2cwsgiutils.config.validate_all` (``config.include`` of
``c2cwsgiutils.pyramid`` and ``c2cwsgiutils_run``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from c2cwsgiutils import config

__all__ = ["FEATURE_SWITCHES", "REFUSED", "WARNED", "check", "switched_off"]

LOG = logging.getLogger(__name__)

_optional_bool: config.Converter[bool | None] = config.Converter(
    config.as_bool.func, config.as_bool.accepted, "boolean"
)


def _switch(env: str, ini: str, what: str, default_on: bool) -> config.Setting[bool | None]:
    unset = (
        "unset: on"
        if default_on
        else "unset: off, as in 6.x (these views show process internals: turn them on explicitly), "
        "unless the view's own secret is set (0.x)"
    )
    return config.declare(
        env,
        ini,
        None,
        _optional_bool,
        f"Switch of {what} (the 6.x setting). true: included (admin views still need their secret); "
        f"false: not included (404); {unset}.",
        feature="compat",
    )


LOG_VIEW_ENABLED = _switch("C2C_LOG_VIEW_ENABLED", "c2c.log_view_enabled", "the logging/level view", False)
SQL_PROFILER_ENABLED = _switch(
    "C2C_SQL_PROFILER_ENABLED", "c2c.sql_profiler_enabled", "the SQL profiler", False
)
DEBUG_VIEW_ENABLED = _switch("C2C_DEBUG_VIEW_ENABLED", "c2c.debug_view_enabled", "the debug views", False)
EXCEPTION_HANDLING = _switch(
    "C2C_ENABLE_EXCEPTION_HANDLING", "c2c.enable_exception_handling", "the JSON error views", True
)
# The switches whose feature is on when they are unset (7's JSON errors; 6.x had them off).
_ON_UNLESS_FALSE = frozenset(("C2C_ENABLE_EXCEPTION_HANDLING",))

FEATURE_SWITCHES: dict[str, config.Setting[bool | None]] = {
    "c2cwsgiutils.logging.level_view": LOG_VIEW_ENABLED,
    "c2cwsgiutils.sql.profiler": SQL_PROFILER_ENABLED,
    "c2cwsgiutils.debug": DEBUG_VIEW_ENABLED,
    "c2cwsgiutils.errors": EXCEPTION_HANDLING,
}


# The views' own secrets of c2cwsgiutils 0.x, which switched their view on (6.x did not read them).
_OWN_SECRETS: dict[str, tuple[str, str]] = {
    "c2cwsgiutils.logging.level_view": ("LOG_VIEW_SECRET", "c2c.log_view_secret"),
    "c2cwsgiutils.sql.profiler": ("SQL_PROFILER_SECRET", "c2c.sql_profiler_secret"),
    "c2cwsgiutils.debug": ("DEBUG_VIEW_SECRET", "c2c.debug_view_secret"),
}


def switched_off(
    feature: str, settings: Mapping[str, Any] | None, environ: Mapping[str, str] | None = None
) -> bool:
    """Whether the switch of ``feature`` (a module name) leaves it out.

    The admin views of the debug, log-level and SQL-profiler features are off unless their switch
    is true, as in 6.x (a 6.x application that never enabled them keeps them off), or unset with
    the view's own secret set (``LOG_VIEW_SECRET``, ``SQL_PROFILER_SECRET``, ``DEBUG_VIEW_SECRET``:
    0.x's way of switching a view on); the JSON error views are on unless
    ``C2C_ENABLE_EXCEPTION_HANDLING`` is false.
    """
    import os

    switch = FEATURE_SWITCHES.get(feature)
    if switch is None:
        return False
    value = switch.get(settings, environ)
    if value is None:
        if switch.env in _ON_UNLESS_FALSE:
            return False
        own = _OWN_SECRETS.get(feature)
        return own is None or _present(*own, settings, os.environ if environ is None else environ) is None
    return not value


# 6.x spelling -> the setting of 7 it sets when that one is unset.
_ALIASES: dict[str, tuple[tuple[str, str], ...]] = {
    "C2C_DEVELOPMENT": (("DEVELOPMENT", ""),),
    "C2C_REDIS_PREFIX": (("C2C_BROADCAST_PREFIX", "c2c.broadcast_prefix"),),
    "SENTRY_EVENT_LEVEL": (("SENTRY_LEVEL", "c2c.sentry_level"),),
    "SENTRY_TRACES_SAMPLE_RATE": (("", "c2c.sentry_traces_sample_rate"),),
    "SENTRY_CLIENT_RELEASE": (("", "c2c.git_hash"),),
}
for _env, _old in _ALIASES.items():
    config.ALIASES[_env] = config.ALIASES.get(_env, ()) + _old

_USE_SESSION = (
    "C2C_USE_SESSION is not needed by c2cwsgiutils 7: the GitHub OAuth state is always checked "
    "(signed cookie, no Pyramid session); remove it"
)

REFUSED: dict[tuple[str, str], str] = {
    ("C2C_USE_SESSION", "c2c.use_session"): _USE_SESSION,
}
"""6.x settings whose loss would change behaviour: start-up fails, naming what to do instead."""

_INTEGRATIONS = ("LOGGING", "PYRAMID", "SQLALCHEMY", "REDIS", "ASYNCIO")

WARNED: dict[tuple[str, str], str] = {
    ("C2C_TRACK_REDIS", "c2c.track_redis"): "gone: Redis calls are not timed by c2cwsgiutils 7",
    ("C2C_PROMETHEUS_PACKAGES", ""): "gone: package versions are served by {C2C_BASE_PATH}/versions.json",
    (
        "C2C_PROMETHEUS_APPLICATION_PACKAGE",
        "",
    ): "gone: the versions are served by {C2C_BASE_PATH}/versions.json",
    (
        "C2C_PROMETHEUS_APPLICATION_PACKAGES",
        "",
    ): "gone: the versions are served by {C2C_BASE_PATH}/versions.json",
    ("C2C_REDIS_PUBSUB_RETRY_DELAY", "c2c.redis_pubsub_retry_delay"): "gone: the broadcast listener "
    "reconnects by itself",
    ("C2C_REDIS_PUBSUB_GET_MESSAGE_TIMEOUT", "c2c.redis_pubsub_get_message_timeout"): "gone: the broadcast "
    "listener blocks on its connection",
    (
        "C2C_PROFILER_PATH",
        "",
    ): "gone: the 6.x Python profiler view was removed; use c2cwsgiutils.profiler.Profile",
    ("C2C_PROFILER_MODULES", ""): "gone: the 6.x Python profiler view was removed",
    ("SENTRY_EXCLUDES", "c2c.sentry.excludes"): "gone: only sentry_sdk's own logger is kept out of Sentry",
    ("C2CWSGIUTILS_STATS_DB_TRYNUMBER", ""): "gone: c2cwsgiutils-stats-db connects once",
    ("C2CWSGIUTILS_STATS_DB_SLEEP", ""): "gone: c2cwsgiutils-stats-db connects once",
    ("GUNICORN_PARAMS", ""): "not read by c2cwsgiutils_run: put gunicorn options in GUNICORN_CMD_ARGS",
}
"""6.x settings whose loss is harmless: one warning line at start-up."""

READ_DIRECTLY = ("GIT_HASH", "C2CWSGIUTILS_CONFIG")
"""6.x settings a module of 7 reads itself (GIT_HASH: the Sentry release; the ini file path)."""

_SENTRY_CLIENT_KEPT = frozenset(("SENTRY_CLIENT_RELEASE", "SENTRY_CLIENT_ENVIRONMENT"))
_warned: set[str] = set()


def _present(env: str, ini: str, settings: Mapping[str, Any] | None, environ: Mapping[str, str]) -> Any:
    value = environ.get(env) if env else None
    if (value is None or value == "") and settings is not None and ini:
        value = settings.get(ini)
    return None if value is None or value == "" else value


def check(settings: Mapping[str, Any] | None, environ: Mapping[str, str] | None = None) -> None:
    """Refuse (:class:`~c2cwsgiutils.config.ConfigError`) or warn about the 6.x settings present."""
    import os

    env = os.environ if environ is None else environ
    errors = [
        f"{name} is a c2cwsgiutils 6.x setting: {message}"
        for (key, ini), message in REFUSED.items()
        if _present(key, ini, settings, env) is not None
        for name in [key if env.get(key) else ini]
    ]
    for integration in _INTEGRATIONS:
        key, ini = f"SENTRY_INTEGRATION_{integration}", f"c2c.sentry_integration_{integration.lower()}"
        value = _present(key, ini, settings, env)
        if value is not None and str(value).strip().lower() in ("false", "0", "no", "off"):
            errors.append(
                f"{key} is a c2cwsgiutils 6.x setting: turning the {integration.lower()} integration off "
                "is not supported (7 enables each integration whose library is installed)"
            )
    if errors:
        raise config.ConfigError("; ".join(errors))
    notes = [(key, message) for (key, ini), message in WARNED.items() if _present(key, ini, settings, env)]
    notes += [
        (key, "ignored: only SENTRY_CLIENT_RELEASE and SENTRY_CLIENT_ENVIRONMENT are passed to Sentry")
        for key in env
        if key.startswith("SENTRY_CLIENT_") and key not in _SENTRY_CLIENT_KEPT
    ]
    for key, message in notes:
        if key not in _warned:
            _warned.add(key)
            LOG.warning("%s is a c2cwsgiutils 6.x setting, %s", key, message)


config.VALIDATORS.append(check)
