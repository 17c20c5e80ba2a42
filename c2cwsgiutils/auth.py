"""Secret check shared by every admin view.

A secret is accepted from the ``secret`` query parameter, the ``X-API-Key`` header or the
``c2c-secret`` cookie, compared in constant time and never logged. A view whose secret is not
configured does not exist (404), a wrong or missing secret is a 403.
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING, Any

from c2cwsgiutils import config

if TYPE_CHECKING:
    from pyramid.request import Request

__all__ = ["SECRET_COOKIE", "configured_secret", "is_authenticated", "is_configured", "require_secret"]

SECRET_COOKIE = "c2c-secret"  # noqa: S105 - a cookie name
SECRET_HEADER = "X-API-Key"  # noqa: S105 - a header name
SECRET_PARAM = "secret"  # noqa: S105 - a query parameter name


def configured_secret(registry: Any, specific: config.Setting[str] | None = None) -> str:
    """The secret that opens a view: its own setting when set, else ``C2C_SECRET`` (may be empty)."""
    if specific is not None:
        value: str = config.cached(registry, _specific_reader(specific))
        if value:
            return value
    return config.core(registry).secret


_READERS: dict[str, Any] = {}


def _specific_reader(setting: config.Setting[str]) -> Any:
    # One stable callable per setting so that config.cached() can use it as a key.
    reader = _READERS.get(setting.env)
    if reader is None:

        def reader(settings: Any) -> str:
            return setting.get(settings)

        _READERS[setting.env] = reader
    return reader


def provided_secret(request: Request) -> str | None:
    """The secret the client sent, from the query string, the ``X-API-Key`` header or the cookie."""
    value = request.GET.get(SECRET_PARAM)
    if value is None:
        value = request.headers.get(SECRET_HEADER)
    if value is None:
        value = request.cookies.get(SECRET_COOKIE)
    return value  # type: ignore[no-any-return]


def is_authenticated(request: Request, specific: config.Setting[str] | None = None) -> bool:
    """Whether the request carries the configured secret (``False`` when none is configured)."""
    from c2cwsgiutils import github_auth

    expected = configured_secret(request.registry, specific)
    given = provided_secret(request)
    if (
        expected
        and given is not None
        and hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))
    ):
        return True
    return github_auth.is_logged_in(request)


def is_configured(registry: Any, specific: config.Setting[str] | None = None) -> bool:
    """Whether something can open a view: a secret or the GitHub OAuth login."""
    from c2cwsgiutils import github_auth

    return bool(configured_secret(registry, specific)) or github_auth.settings(registry).enabled


def require_secret(request: Request, specific: config.Setting[str] | None = None) -> None:
    """Raise 404 when no secret is configured, 403 when the request does not carry it.

    When the secret came from the query string it is stored in a cookie so that links of the
    admin index keep working without repeating it.
    """
    from pyramid.httpexceptions import HTTPForbidden, HTTPNotFound

    expected = configured_secret(request.registry, specific)
    if not is_configured(request.registry, specific):
        raise HTTPNotFound()
    if not is_authenticated(request, specific):
        raise HTTPForbidden("Missing or wrong secret (or GitHub login)")
    if expected and request.GET.get(SECRET_PARAM) == expected:
        base = config.core(request.registry).base_path or "/"

        def _set_cookie(req: Request, response: Any) -> None:
            response.set_cookie(
                SECRET_COOKIE,
                expected,
                path=base,
                httponly=True,
                samesite="Strict",
                secure=req.scheme == "https",
            )

        request.add_response_callback(_set_cookie)


def __getattr__(name: str) -> Any:
    # The names of 6.x's auth module (is_auth, get_expected_secret, SECRET_ENV ...), kept working.
    from c2cwsgiutils import _auth_6x

    try:
        return _auth_6x.NAMES[name]
    except KeyError:
        raise AttributeError(f"module 'c2cwsgiutils.auth' has no attribute {name!r}") from None
