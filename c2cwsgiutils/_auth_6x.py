"""The names of 6.x's ``c2cwsgiutils.auth``, served by :mod:`c2cwsgiutils.auth`'s ``__getattr__``.

Only the secret authentication exists in 7 (GitHub OAuth settings are refused at start-up), so
the GitHub functions answer as 6.x did without GitHub configured: not authenticated.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import Any, TypedDict

from c2cwsgiutils import auth, config

SECRET_PROP = "c2c.secret"  # noqa: S105 - a setting's name
SECRET_ENV = "C2C_SECRET"  # noqa: S105 - a setting's name
_GITHUB = {
    "AUTH_URL": "auth_url",
    "TOKEN_URL": "token_url",
    "USER_URL": "user_url",
    "CLIENT_ID": "client_id",
    "CLIENT_SECRET": "client_secret",
    "SCOPE": "scope",
}
CONSTANTS: dict[str, str] = {"SECRET_PROP": SECRET_PROP, "SECRET_ENV": SECRET_ENV}
for _name, _key in _GITHUB.items():
    CONSTANTS[f"GITHUB_{_name}_ENV"] = f"C2C_AUTH_GITHUB_{_name}"
    CONSTANTS[f"GITHUB_{_name}_PROP"] = f"c2c.auth.github.{_key}"
CONSTANTS.update(
    {
        "GITHUB_SCOPE_DEFAULT": "repo",
        "GITHUB_AUTH_COOKIE_ENV": "C2C_AUTH_GITHUB_COOKIE",
        "GITHUB_AUTH_COOKIE_PROP": "c2c.auth.github.auth.cookie",
        "GITHUB_AUTH_SECRET_ENV": "C2C_AUTH_GITHUB_SECRET",
        "GITHUB_AUTH_SECRET_PROP": "c2c.auth.github.auth.secret",
        "GITHUB_AUTH_PROXY_URL_ENV": "C2C_AUTH_GITHUB_PROXY_URL",
        "GITHUB_AUTH_PROXY_URL_PROP": "c2c.auth.github.auth.proxy_url",
        "USE_SESSION_ENV": "C2C_USE_SESSION",
        "USE_SESSION_PROP": "c2c.use_session",
    }
)


class AuthConfig(TypedDict, total=False):
    """6.x's GitHub access requirement (repository, access type)."""

    github_repository: str | None
    github_access_type: str | None


class UserDetails(TypedDict, total=False):
    """6.x's GitHub user."""

    login: str
    name: str
    url: str
    token: str


class AuthenticationType(Enum):
    """6.x's kinds of authentication of the admin views."""

    NONE = 0
    SECRET = 1
    GITHUB = 2


def get_expected_secret(request: Any) -> str:
    """The secret that opens the admin views (``C2C_SECRET``)."""
    return config.core(request.registry).secret


def is_auth(request: Any) -> bool:
    """Whether the request carries the admin secret."""
    return auth.is_authenticated(request)


def is_auth_user(request: Any) -> tuple[bool, UserDetails | None]:
    """``(is_auth(request), user)``: the GitHub user (no ``token``) when logged in with GitHub."""
    from c2cwsgiutils import github_auth

    user = github_auth.logged_in_user(request)
    if user is not None:
        return True, UserDetails(login=user["login"], name=user["name"], url=user["url"])
    return auth.is_authenticated(request), None


def auth_view(request: Any) -> None:
    """Raise 404 / 403 unless the request carries the admin secret."""
    auth.require_secret(request)


def auth_type(settings: Mapping[str, Any] | None) -> AuthenticationType | None:
    """``SECRET`` when ``C2C_SECRET`` is set, else ``GITHUB`` when GitHub OAuth is, else ``NONE``."""
    from c2cwsgiutils import github_auth

    if config.SECRET.get(settings):
        return AuthenticationType.SECRET
    if github_auth.GitHubSettings.from_settings(settings or {}).enabled:
        return AuthenticationType.GITHUB
    return AuthenticationType.NONE


def check_access(request: Any, repo: str | None = None, access_type: str | None = None) -> bool:
    """Whether the request carries the admin secret or a GitHub login.

    The GitHub login was checked against ``C2C_AUTH_GITHUB_REPOSITORY`` when it was made; another
    ``repo`` or ``access_type`` cannot be checked (the token is not kept).
    """
    return auth.is_authenticated(request)


def check_access_config(request: Any, auth_config: AuthConfig) -> bool:
    """Whether the request carries the admin secret."""
    return auth.is_authenticated(request)


def is_enabled(config_: Any, env_name: str | None = None, config_name: str | None = None) -> bool:
    """6.x: the switch ``env_name``/``config_name`` is true and an authentication is configured."""
    from c2cwsgiutils.config_utils import config_bool, env_or_config

    switch = config_bool(env_or_config(config_, env_name, config_name))
    return switch and auth_type(config_.get_settings()) is not AuthenticationType.NONE


NAMES = {
    "AuthConfig": AuthConfig,
    "UserDetails": UserDetails,
    "AuthenticationType": AuthenticationType,
    "get_expected_secret": get_expected_secret,
    "is_auth": is_auth,
    "is_auth_user": is_auth_user,
    "auth_view": auth_view,
    "auth_type": auth_type,
    "check_access": check_access,
    "check_access_config": check_access_config,
    "is_enabled": is_enabled,
    **CONSTANTS,
}
