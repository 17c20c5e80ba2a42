"""6.x's ``c2cwsgiutils.config_utils``: environment-or-settings lookups for application code.

Settings of the toolkit itself are declared in :mod:`c2cwsgiutils.config` (validated at start-up).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["config_bool", "env_or_config", "env_or_settings", "get_base_path"]


def get_base_path(config: Any) -> str:
    """``C2C_BASE_PATH`` of a Pyramid configurator (default ``/c2c``)."""
    from c2cwsgiutils import config as c2c_config

    return c2c_config.core(config.registry).base_path


def env_or_config(
    config: Any,
    env_name: str | None = None,
    config_name: str | None = None,
    default: Any = None,
    type_: Callable[[str], Any] = str,
) -> Any:
    """The environment variable ``env_name`` if set and not empty, else the setting ``config_name``
    of the configurator (``None`` allowed), else ``default``; converted by ``type_``."""
    return env_or_settings(
        config.get_settings() if config is not None else {}, env_name, config_name, default, type_
    )


def env_or_settings(
    settings: Mapping[str, Any] | None,
    env_name: str | None = None,
    settings_name: str | None = None,
    default: Any = None,
    type_: Callable[[str], Any] = str,
) -> Any:
    """:func:`env_or_config` on a settings mapping."""
    if env_name is not None and os.environ.get(env_name, "") != "":
        return type_(os.environ[env_name])
    if settings is not None and settings_name is not None and settings_name in settings:
        return type_(settings[settings_name])
    return default


def config_bool(value: str | None) -> bool:
    """``True`` for ``true``/``yes``/``1`` in any case, ``False`` otherwise (6.x semantics)."""
    return value is not None and value.strip().lower() in ("true", "yes", "1")
