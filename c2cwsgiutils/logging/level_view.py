"""The log-level view: read a logger's level, or change it in every worker process of the service.

``{C2C_BASE_PATH}/logging/level`` (secret ``LOG_VIEW_SECRET`` or ``C2C_SECRET``):

- no parameter: the overrides set so far (``{"overrides": {"sqlalchemy.engine": "INFO"}}``);
- ``name``: that logger's own level and its effective level (6.x's answer);
- ``name`` and ``level``: sets it in every process through :mod:`c2cwsgiutils.broadcast` (Redis
  pub/sub when ``C2C_REDIS_URL`` is set, this process otherwise) and answers with the processes
  that applied it. With Redis the override is also kept in the hash ``{C2C_REDIS_PREFIX}log_levels``
  and re-applied by every process that includes this module later (a worker restarted or added).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from c2cwsgiutils import admin, broadcast, config

__all__ = ["LOG_VIEW_SECRET", "apply_overrides", "includeme", "set_level"]

LOG = logging.getLogger(__name__)

LOG_VIEW_SECRET = config.declare(
    "LOG_VIEW_SECRET",
    "c2c.log_view_secret",
    "",
    config.as_str,
    "Secret of the log-level view (C2C_SECRET opens it too).",
    secret=True,
    feature="logging",
)

LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG", "NOTSET")
_ALIASES = {"WARN": "WARNING", "FATAL": "CRITICAL"}
MAX_NAME = 200
_overrides: dict[str, str] = {}  # this process's overrides (the store when there is no Redis)


@dataclass(frozen=True)
class LevelSettings:
    """Where overrides are kept: the Redis URL ("" for none) and the key of the hash."""

    redis_url: str
    key: str

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> LevelSettings:
        return cls(broadcast.REDIS_URL.get(settings), broadcast.REDIS_PREFIX.get(settings) + "log_levels")


def _logger(name: str) -> logging.Logger:
    return logging.getLogger() if name in ("", "root") else logging.getLogger(name)


def _level_name(level: int) -> str:
    return logging.getLevelName(level)


def normalise_level(raw: str) -> str | None:
    """The canonical level name for ``raw`` (case-insensitive, WARN/FATAL accepted), else ``None``."""
    value = raw.strip().upper()
    value = _ALIASES.get(value, value)
    return value if value in LEVELS else None


def _apply(name: str, level: str) -> dict[str, str]:
    logger = _logger(name)
    logger.setLevel(level)
    _overrides[name] = level
    return {"name": name, "level": level, "effective_level": _level_name(logger.getEffectiveLevel())}


@broadcast.decorator(expect_answers=True, name="c2cwsgiutils.logging.set_level")
def set_level(name: str, level: str) -> dict[str, str]:
    """Set the level of logger ``name`` in this process (broadcast: in every process)."""
    LOG.info("Logging level of %s set to %s", name or "root", level)
    return _apply(name, level)


def _redis(url: str) -> Any:
    import redis

    return redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2, decode_responses=True)


def _stored(settings: LevelSettings) -> dict[str, str] | None:
    if not settings.redis_url:
        return dict(_overrides)
    try:
        client = _redis(settings.redis_url)
        try:
            return dict(client.hgetall(settings.key))
        finally:
            client.close()
    except Exception as exc:  # ops tooling must never stop the service
        LOG.warning("Could not read the log-level overrides from Redis (%s)", type(exc).__name__)
        return None


def _store(settings: LevelSettings, name: str, level: str) -> bool:
    if not settings.redis_url:
        return True
    try:
        client = _redis(settings.redis_url)
        try:
            client.hset(settings.key, name, level)
        finally:
            client.close()
        return True
    except Exception as exc:
        LOG.warning("Could not keep the log-level override in Redis (%s)", type(exc).__name__)
        return False


def apply_overrides(settings: Mapping[str, Any]) -> dict[str, str]:
    """Apply the overrides kept in Redis to this process; returns them (``{}`` without Redis)."""
    level_settings = LevelSettings.from_settings(settings)
    if not level_settings.redis_url:
        return {}
    applied: dict[str, str] = {}
    for name, raw in (_stored(level_settings) or {}).items():
        level = normalise_level(raw)
        if level is not None:
            _apply(name, level)
            applied[name] = level
    if applied:
        LOG.info("Applied %d log-level override(s) kept in Redis", len(applied))
    return applied


def _bad_request(request: Any, message: str) -> dict[str, Any]:
    request.response.status_int = 400
    return {"status": 400, "message": message}


def level_view(request: Any) -> dict[str, Any]:
    """The view behind ``{C2C_BASE_PATH}/logging/level``."""
    settings = config.cached(request.registry, LevelSettings.from_settings)
    name = request.params.get("name")
    raw_level = request.params.get("level")
    if name is None:
        if raw_level is not None:
            return _bad_request(request, "'level' needs the 'name' of a logger")
        overrides = _stored(settings)
        return {"status": 200, "overrides": overrides if overrides is not None else dict(_overrides)}
    if len(name) > MAX_NAME:
        return _bad_request(request, f"'name' must be at most {MAX_NAME} characters")
    if raw_level is None:
        logger = _logger(name)
        return {
            "status": 200,
            "name": name,
            # 6.x's shape: the logger's own level (NOTSET: inherited) and the one in force.
            "level": _level_name(logger.level),
            "effective_level": _level_name(logger.getEffectiveLevel()),
        }
    level = normalise_level(raw_level)
    if level is None:
        return _bad_request(request, f"'level' must be one of {', '.join(LEVELS)}")
    stored = _store(settings, name, level)
    answers = set_level(name=name, level=level)
    processes = [
        {"pid": answer.get("pid"), "hostname": answer.get("hostname"), **_result(answer)}
        for answer in answers
    ]
    effective = _level_name(_logger(name).getEffectiveLevel())
    return {
        "status": 200,
        "name": name,
        "level": level,
        "effective_level": effective,
        "stored": stored,
        "processes": processes,
    }


def _result(answer: broadcast.Answer) -> dict[str, Any]:
    if "error" in answer:
        return {"error": answer["error"]}
    result = answer.get("result") or {}
    return {"effective_level": result.get("effective_level")}


def includeme(config_: Any) -> None:
    """Pyramid include: the view, the broadcast listener, and the overrides kept in Redis."""
    config_.include("c2cwsgiutils.broadcast")
    admin.add_admin_view(
        config_,
        "logging_level",
        "logging/level",
        level_view,
        title="Logging levels",
        methods=("GET", "POST"),
        params=("name", "level"),
        secret=LOG_VIEW_SECRET,
    )
    apply_overrides(config_.get_settings())
