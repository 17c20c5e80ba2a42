"""The Redis connection of the toolkit: ``C2C_REDIS_URL``, or Redis Sentinel as in 6.x.

With ``C2C_REDIS_SENTINELS`` (``host:port,host:port``) the client talks to the master of the service
``C2C_REDIS_SERVICENAME`` as the sentinels announce it, and follows a fail-over. ``C2C_REDIS_DB``
and ``C2C_REDIS_OPTIONS`` (``key=value,key=value``, values read as int, float, true/false or
text, as 6.x's YAML reading did for these simple values) apply to both ways. The ``redis`` package
is imported only when a client is made.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from c2cwsgiutils import config

__all__ = ["REDIS_DB", "REDIS_OPTIONS", "REDIS_SENTINELS", "REDIS_SERVICENAME", "configured", "make_client"]


def _sentinels(raw: str) -> list[str]:
    items = config.as_list(raw)
    for item in items:
        host, _, port = item.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(raw)
    return items


def _options(raw: str) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for item in config.as_list(raw):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(raw)
        options[key.strip()] = _scalar(value.strip())
    return options


def _scalar(value: str) -> Any:
    lowered = value.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


REDIS_SENTINELS = config.declare(
    "C2C_REDIS_SENTINELS",
    "c2c.redis_sentinels",
    [],
    config.Converter(_sentinels, "a comma-separated list of host:port", "list"),
    "Redis Sentinel addresses (host:port,...); when set, Redis is the master of C2C_REDIS_SERVICENAME "
    "they announce, instead of C2C_REDIS_URL.",
    feature="redis",
)
REDIS_SERVICENAME = config.declare(
    "C2C_REDIS_SERVICENAME",
    "c2c.redis_servicename",
    "mymaster",
    config.as_str,
    "Service name the Redis sentinels know the master by.",
    feature="redis",
)
REDIS_DB = config.declare(
    "C2C_REDIS_DB",
    "c2c.redis_db",
    -1,
    config.bounded(config.as_int, 0),
    "Redis database number (with sentinels; with C2C_REDIS_URL it overrides the URL's). -1: unset.",
    feature="redis",
)
REDIS_OPTIONS = config.declare(
    "C2C_REDIS_OPTIONS",
    "c2c.redis_options",
    {},
    config.Converter(_options, "a comma-separated list of key=value", "options"),
    "Extra keyword arguments of the Redis client (key=value,...), e.g. socket_timeout=5.",
    feature="redis",
)


def configured(settings: Mapping[str, Any] | None) -> str:
    """What Redis the settings point at, for logs and check names (``""``: none); no secret."""
    sentinels = REDIS_SENTINELS.get(settings)
    if sentinels:
        return ",".join(sentinels)
    from c2cwsgiutils.broadcast import REDIS_URL

    url = REDIS_URL.get(settings)
    if not url:
        return ""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or 6379}"


def make_client(settings: Mapping[str, Any] | None, **kwargs: Any) -> Any:
    """A ``redis.Redis`` for the settings (``None`` when no Redis is configured).

    ``kwargs`` (timeouts, ``client_name`` ...) are the caller's; ``C2C_REDIS_OPTIONS`` overrides them.
    """
    from c2cwsgiutils.broadcast import REDIS_URL

    sentinels = REDIS_SENTINELS.get(settings)
    url = REDIS_URL.get(settings)
    if not sentinels and not url:
        return None
    import redis
    import redis.sentinel

    options = {**kwargs, **REDIS_OPTIONS.get(settings)}
    db = REDIS_DB.get(settings)
    if db >= 0:
        options["db"] = db
    if sentinels:
        addresses = [(host, int(port)) for host, _, port in (s.rpartition(":") for s in sentinels)]
        timeout = options.get("socket_connect_timeout")
        sentinel = redis.sentinel.Sentinel(
            addresses, sentinel_kwargs={"socket_connect_timeout": timeout, "socket_timeout": timeout}
        )
        return sentinel.master_for(REDIS_SERVICENAME.get(settings), **options)
    return redis.Redis.from_url(url, **options)
