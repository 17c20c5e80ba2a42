"""Settings: declared once per feature, read as env var > ini key > default, validated at start-up.

Each feature module declares its settings at import time with :func:`declare`; the declarations
form one registry (:data:`SETTINGS`) from which the settings table of the docs
(``docs/settings.md``, ``make docs``) is generated and against which ``c2cwsgiutils_run``
validates the whole configuration before starting any worker.

Values are converted once, when a feature is included, into a frozen dataclass kept on the Pyramid
registry (see :func:`cached`): hot paths read attributes, never ``os.environ``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")

__all__ = [
    "SETTINGS",
    "ConfigError",
    "Setting",
    "as_bool",
    "as_float",
    "as_int",
    "as_list",
    "as_str",
    "cached",
    "declare",
]


class ConfigError(ValueError):
    """An invalid setting; the message is one line naming the variable, the value and what is accepted."""


_TRUE = frozenset(("true", "yes", "on", "1"))
_FALSE = frozenset(("false", "no", "off", "0"))


class Converter(Generic[T]):
    """Turns a raw string into a value; ``accepted`` describes valid input for error messages."""

    def __init__(self, func: Callable[[str], T], accepted: str, type_name: str) -> None:
        self.func = func
        self.accepted = accepted
        self.type_name = type_name

    def __call__(self, raw: str) -> T:
        return self.func(raw)


def _to_bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(raw)


def _to_list(raw: str) -> list[str]:
    return [item for item in (part.strip() for part in raw.replace("\n", ",").split(",")) if item]


as_bool: Converter[bool] = Converter(_to_bool, "one of true/false/yes/no/on/off/1/0", "boolean")
as_int: Converter[int] = Converter(lambda raw: int(raw.strip()), "an integer", "integer")
as_float: Converter[float] = Converter(lambda raw: float(raw.strip()), "a number", "number")
as_str: Converter[str] = Converter(lambda raw: raw, "a string", "string")
as_list: Converter[list[str]] = Converter(_to_list, "a comma-separated list", "list")


def bounded(converter: Converter[Any], minimum: float | None = None, maximum: float | None = None) -> Any:
    """Wrap a numeric converter so that values outside ``[minimum, maximum]`` are rejected."""
    parts = [converter.accepted]
    if minimum is not None:
        parts.append(f">= {minimum}")
    if maximum is not None:
        parts.append(f"<= {maximum}")

    def convert(raw: str) -> Any:
        value = converter(raw)
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            raise ValueError(raw)
        return value

    return Converter(convert, " ".join(parts), converter.type_name)


def choice(*options: str) -> Converter[str]:
    """A converter accepting one of ``options`` (case-insensitive), returned lower-cased."""
    allowed = frozenset(options)

    def convert(raw: str) -> str:
        value = raw.strip().lower()
        if value not in allowed:
            raise ValueError(raw)
        return value

    return Converter(convert, "one of " + "/".join(options), "choice")


def path_prefix(raw: str) -> str:
    """Normalise a URL path prefix: leading slash, no trailing slash (``/`` stays ``""``)."""
    value = raw.strip()
    if not value.startswith("/") or any(c in value for c in "?#% \t\r\n"):
        raise ValueError(raw)
    return value.rstrip("/")


as_path_prefix: Converter[str] = Converter(path_prefix, "an absolute URL path such as /c2c", "path")


@dataclass(frozen=True)
class Setting(Generic[T]):
    """One setting: its env var, its ini key, its default and how to convert it."""

    env: str
    ini: str
    default: T
    convert: Converter[T]
    help: str
    secret: bool = False
    feature: str = "core"

    def raw(self, settings: Mapping[str, Any] | None, environ: Mapping[str, str] | None = None) -> Any:
        """The raw value (env var first, then ini key), or ``None`` when neither is set."""
        env = os.environ if environ is None else environ
        value = env.get(self.env)
        if value is not None and value != "":
            return value
        if settings is not None and self.ini:  # an empty ini key: environment only
            value = settings.get(self.ini)
            if value is not None and value != "":
                return value
        for old_env, old_ini in ALIASES.get(self.env, ()):  # 6.x spellings, after ours
            value = env.get(old_env) if old_env else None
            if (value is None or value == "") and settings is not None and old_ini:
                value = settings.get(old_ini)
            if value is not None and value != "":
                return value
        return None

    def get(self, settings: Mapping[str, Any] | None, environ: Mapping[str, str] | None = None) -> T:
        """The converted value; raises :class:`ConfigError` naming the variable when invalid."""
        raw = self.raw(settings, environ)
        if raw is None:
            return self.default
        if not isinstance(raw, str):
            # Already a Python value (set programmatically in the Configurator's settings).
            raw = str(raw) if not isinstance(raw, bool) else ("true" if raw else "false")
        try:
            return self.convert(raw)
        except (ValueError, TypeError):
            shown = "(value hidden)" if self.secret else f"(got {raw!r})"
            raise ConfigError(
                f"{self.env} (ini: {self.ini}) must be {self.convert.accepted} {shown}"
            ) from None


SETTINGS: dict[str, Setting[Any]] = {}

ALIASES: dict[str, tuple[tuple[str, str], ...]] = {}
"""Older spellings of a setting, ``{env: ((old_env, old_ini), ...)}``, read when ours are unset
(filled by :mod:`c2cwsgiutils.v6_settings`)."""

VALIDATORS: list[Callable[[Mapping[str, Any] | None, Mapping[str, str] | None], None]] = []
"""Checks :func:`validate_all` runs after the declared settings (e.g. refused 6.x settings)."""


def declare(
    env: str,
    ini: str,
    default: T,
    convert: Converter[T],
    help: str,
    *,
    secret: bool = False,
    feature: str = "core",
) -> Setting[T]:
    """Declare a setting (once, at import time of its feature module) and return it."""
    setting = Setting(env, ini, default, convert, help, secret, feature)
    existing = SETTINGS.get(env)
    if existing is not None and existing != setting:
        raise RuntimeError(f"setting {env} declared twice with different definitions")
    SETTINGS[env] = setting
    return setting


def validate_all(settings: Mapping[str, Any] | None, environ: Mapping[str, str] | None = None) -> None:
    """Convert every declared setting, raising the first :class:`ConfigError`."""
    for setting in SETTINGS.values():
        setting.get(settings, environ)
    for validator in VALIDATORS:
        validator(settings, environ)


_CACHE_KEY = "c2cwsgiutils.settings_cache"


def cached(registry: Any, factory: Callable[[Mapping[str, Any]], T]) -> T:
    """Build ``factory(registry.settings)`` once per registry and keep it there.

    ``factory`` is typically a feature's ``Settings.from_settings`` classmethod; the registry
    (a dict-like Pyramid ``Registry``) holds one instance per factory.
    """
    cache: dict[Any, Any] = registry.__dict__.setdefault(_CACHE_KEY, {})
    try:
        return cache[factory]  # type: ignore[no-any-return]
    except KeyError:
        value = cache[factory] = factory(registry.settings or {})
        return value


# ---- core settings -------------------------------------------------------------------------

BASE_PATH = declare(
    "C2C_BASE_PATH", "c2c.base_path", "/c2c", as_path_prefix, "URL prefix of every admin view."
)
SECRET = declare(
    "C2C_SECRET",
    "c2c.secret",
    "",
    as_str,
    "Secret that opens every admin view (per-view secrets below take precedence). Empty: admin views "
    "that need a secret answer 404.",
    secret=True,
)
DEVELOPMENT = declare(
    "C2C_DEVELOPMENT",
    "c2c.development",
    False,
    as_bool,
    "Development mode: JSON error responses include the stack trace.",
)


@dataclass(frozen=True)
class CoreSettings:
    """Settings every feature may need."""

    base_path: str
    secret: str
    development: bool

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> CoreSettings:
        return cls(
            base_path=BASE_PATH.get(settings),
            secret=SECRET.get(settings),
            development=DEVELOPMENT.get(settings),
        )


def core(registry: Any) -> CoreSettings:
    """The :class:`CoreSettings` of a Pyramid registry."""
    return cached(registry, CoreSettings.from_settings)
