"""GitHub OAuth for the admin views (6.x's ``C2C_AUTH_GITHUB_*`` settings).

An alternative to ``C2C_SECRET``: ``{C2C_BASE_PATH}/github-login`` sends the admin to GitHub,
``{C2C_BASE_PATH}/github-callback`` exchanges the code for a token, reads ``/user`` and
``/repos/{C2C_AUTH_GITHUB_REPOSITORY}`` and, when ``permissions[C2C_AUTH_GITHUB_ACCESS_TYPE]`` is
true, sets a cookie signed with HMAC-SHA256 (``C2C_AUTH_GITHUB_SECRET``) that opens every admin
view for seven days. The repository permission is checked once, at login; the GitHub token is not
kept. ``{C2C_BASE_PATH}/github-logout`` deletes the cookie.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from c2cwsgiutils import config

__all__ = ["GitHubSettings", "includeme", "is_logged_in", "logged_in_user", "settings"]

LOG = logging.getLogger(__name__)

COOKIE_AGE = 7 * 24 * 3600
STATE_COOKIE = "c2c-github-state"
_FEATURE = "github_auth"
_MIN_SECRET = 16
_TIMEOUT = 10.0


def _declare(name: str, ini: str, default: str, help_: str, *, secret: bool = False) -> config.Setting[str]:
    return config.declare(
        f"C2C_AUTH_GITHUB_{name}",
        f"c2c.auth.github.{ini}",
        default,
        config.as_str,
        help_,
        secret=secret,
        feature=_FEATURE,
    )


REPOSITORY = _declare(
    "REPOSITORY",
    "repository",
    "",
    "GitHub OAuth: repository (`owner/name`) the admin must have access to. GitHub login is enabled "
    "when this, the client id and secret and `C2C_AUTH_GITHUB_SECRET` are set.",
)
ACCESS_TYPE = config.declare(
    "C2C_AUTH_GITHUB_ACCESS_TYPE",
    "c2c.auth.github.access_type",
    "pull",
    config.choice("pull", "push", "admin"),
    "GitHub OAuth: permission on the repository that opens the admin views (`pull`, `push`, `admin`).",
    feature=_FEATURE,
)
CLIENT_ID = _declare("CLIENT_ID", "client_id", "", "GitHub OAuth: client id of the OAuth app.")
CLIENT_SECRET = _declare(
    "CLIENT_SECRET", "client_secret", "", "GitHub OAuth: client secret of the OAuth app.", secret=True
)
SCOPE = _declare("SCOPE", "scope", "repo", "GitHub OAuth: scope asked (`repo` to see private repositories).")
AUTH_URL = _declare(
    "AUTH_URL", "auth_url", "https://github.com/login/oauth/authorize", "GitHub OAuth: authorize URL."
)
TOKEN_URL = _declare(
    "TOKEN_URL", "token_url", "https://github.com/login/oauth/access_token", "GitHub OAuth: token URL."
)
USER_URL = _declare("USER_URL", "user_url", "https://api.github.com/user", "GitHub OAuth: user API URL.")
REPO_URL = _declare(
    "REPO_URL", "repo_url", "https://api.github.com/repos", "GitHub OAuth: repositories API URL."
)
PROXY_URL = _declare(
    "PROXY_URL",
    "auth.proxy_url",
    "",
    "GitHub OAuth: redirect proxy; the callback URL is passed to it as `came_from`.",
)
SECRET = _declare(
    "SECRET",
    "auth.secret",
    "",
    "GitHub OAuth: key (at least 16 characters) that signs the login cookie (HMAC-SHA256).",
    secret=True,
)
COOKIE = _declare("COOKIE", "auth.cookie", "c2c-auth-jwt", "GitHub OAuth: name of the login cookie.")


@dataclass(frozen=True)
class GitHubSettings:
    """The GitHub OAuth settings, parsed once per registry."""

    enabled: bool
    repository: str
    access_type: str
    client_id: str
    client_secret: str
    scope: str
    auth_url: str
    token_url: str
    user_url: str
    repo_url: str
    proxy_url: str
    secret: str
    cookie: str

    @classmethod
    def from_settings(cls, settings_: Mapping[str, Any]) -> GitHubSettings:
        """Parse and check; raises :class:`config.ConfigError` naming the variable when incomplete."""
        required = (REPOSITORY, CLIENT_ID, CLIENT_SECRET, SECRET)
        values = {s.env: s.get(settings_) for s in required}
        given = [env for env, value in values.items() if value]
        if given and len(given) < len(required):
            missing = ", ".join(env for env, value in values.items() if not value)
            raise config.ConfigError(f"GitHub OAuth is partly configured: {missing} must also be set")
        if given and len(values[SECRET.env]) < _MIN_SECRET:
            raise config.ConfigError(f"{SECRET.env} must have at least {_MIN_SECRET} characters")
        return cls(
            enabled=bool(given),
            repository=REPOSITORY.get(settings_),
            access_type=ACCESS_TYPE.get(settings_),
            client_id=CLIENT_ID.get(settings_),
            client_secret=CLIENT_SECRET.get(settings_),
            scope=SCOPE.get(settings_),
            auth_url=AUTH_URL.get(settings_),
            token_url=TOKEN_URL.get(settings_),
            user_url=USER_URL.get(settings_),
            repo_url=REPO_URL.get(settings_).rstrip("/"),
            proxy_url=PROXY_URL.get(settings_),
            secret=SECRET.get(settings_),
            cookie=COOKIE.get(settings_),
        )


def _validate(settings_: Mapping[str, Any] | None, environ: Mapping[str, str] | None) -> None:
    del environ  # Setting.get reads os.environ, as the rest of validate_all does by default
    GitHubSettings.from_settings(settings_ or {})


config.VALIDATORS.append(_validate)


def settings(registry: Any) -> GitHubSettings:
    """The :class:`GitHubSettings` of a Pyramid registry."""
    return config.cached(registry, GitHubSettings.from_settings)


# ---- signed cookie ---------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(payload: Mapping[str, Any], key: str) -> str:
    """``base64url(json).base64url(hmac_sha256)``."""
    body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode("utf-8"))
    mac = hmac.new(key.encode("utf-8"), body.encode("ascii"), hashlib.sha256).digest()
    return f"{body}.{_b64(mac)}"


def verify(value: str, key: str) -> dict[str, Any] | None:
    """The payload of a cookie made by :func:`sign` with ``key`` and not expired, else ``None``."""
    body, _, mac = value.partition(".")
    try:
        expected = hmac.new(key.encode("utf-8"), body.encode("ascii"), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, _unb64(mac)):
            return None
        payload = json.loads(_unb64(body))
    except (ValueError, UnicodeError):
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("exp"), int):
        return None
    if payload["exp"] < time.time():
        return None
    return payload


def logged_in_user(request: Any) -> dict[str, Any] | None:
    """The GitHub user (``login``, ``name``, ``url``, ``exp``) of a valid login cookie, else ``None``."""
    conf = settings(request.registry)
    if not conf.enabled:
        return None
    value = request.cookies.get(conf.cookie)
    return verify(value, conf.secret) if value else None


def is_logged_in(request: Any) -> bool:
    """Whether the request carries a valid GitHub login cookie (``False`` when GitHub is off)."""
    return logged_in_user(request) is not None


# ---- views -----------------------------------------------------------------------------------


def _json_error(status: int, message: str) -> Any:
    from pyramid.response import Response

    return Response(json=({"status": status, "message": message}), status=status)


def _redirect_uri(request: Any, conf: GitHubSettings) -> str:
    callback = request.route_url("c2c_github_callback")
    if not conf.proxy_url:
        return callback  # type: ignore[no-any-return]
    sep = "&" if "?" in conf.proxy_url else "?"
    return conf.proxy_url + sep + urllib.parse.urlencode({"came_from": callback})


def _came_from(request: Any) -> str:
    # Only a path on this site: an absolute URL would make the login an open redirect.
    target = request.params.get("came_from", "")
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return request.route_path("c2c_index")  # type: ignore[no-any-return]
    return target  # type: ignore[no-any-return]


def login_view(request: Any) -> Any:
    """Redirect to GitHub's authorize URL with a fresh ``state`` kept in a short-lived cookie."""
    from pyramid.httpexceptions import HTTPFound

    conf = settings(request.registry)
    state = secrets.token_urlsafe(24)
    query = urllib.parse.urlencode(
        {
            "response_type": "code",
            "client_id": conf.client_id,
            "redirect_uri": _redirect_uri(request, conf),
            "scope": conf.scope,
            "state": state,
        }
    )
    sep = "&" if "?" in conf.auth_url else "?"
    response = HTTPFound(location=conf.auth_url + sep + query)
    base = config.core(request.registry).base_path or "/"
    cookie = json.dumps({"state": state, "came_from": _came_from(request)})
    response.set_cookie(
        STATE_COOKIE,
        sign({"v": cookie, "exp": int(time.time()) + 600}, conf.secret),
        max_age=600,
        path=base,
        httponly=True,
        samesite="Lax",  # the callback arrives from GitHub: a cross-site top-level navigation
        secure=request.scheme == "https",
    )
    return response


def _call(url: str, token: str | None = None, data: Mapping[str, str] | None = None) -> Any:
    headers = {"Accept": "application/json", "User-Agent": "c2cwsgiutils"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    body = urllib.parse.urlencode(data).encode("ascii") if data is not None else None
    req = urllib.request.Request(url, data=body, headers=headers)  # noqa: S310 - configured URL
    with urllib.request.urlopen(req, timeout=_TIMEOUT) as resp:  # noqa: S310
        return json.loads(resp.read())


def callback_view(request: Any) -> Any:
    """Exchange the code, check the repository permission and set the signed login cookie."""
    from pyramid.httpexceptions import HTTPFound

    conf = settings(request.registry)
    if "error" in request.GET:
        return _json_error(403, f"GitHub refused the login: {request.GET['error']}")
    stored = verify(request.cookies.get(STATE_COOKIE, ""), conf.secret)
    kept = json.loads(stored["v"]) if stored else {}
    state = request.GET.get("state")
    if not state or not hmac.compare_digest(str(kept.get("state", "")), state):
        return _json_error(400, "Missing or wrong OAuth 'state' (start again from github-login)")
    code = request.GET.get("code")
    if not code:
        return _json_error(400, "Missing OAuth 'code'")
    try:
        token = _call(
            conf.token_url,
            data={
                "client_id": conf.client_id,
                "client_secret": conf.client_secret,
                "code": code,
                "redirect_uri": _redirect_uri(request, conf),
                "state": state,
            },
        ).get("access_token")
        if not token:
            return _json_error(403, "GitHub did not give an access token")
        user = _call(conf.user_url, token)
        repo = _call(f"{conf.repo_url}/{conf.repository}", token)
    except (urllib.error.URLError, OSError, ValueError) as error:
        LOG.warning("GitHub OAuth call failed: %s", error)
        return _json_error(502, "Could not reach GitHub to check the login")
    if not isinstance(user, dict):
        return _json_error(502, "Unexpected answer from GitHub's user API")
    permissions = repo.get("permissions") if isinstance(repo, dict) else None
    if not isinstance(permissions, dict) or permissions.get(conf.access_type) is not True:
        LOG.info(
            "GitHub user %s has no %s access to %s", user.get("login"), conf.access_type, conf.repository
        )
        return _json_error(403, f"No '{conf.access_type}' access to the repository {conf.repository}")
    payload = {
        "login": user.get("login"),
        "name": user.get("name"),
        "url": user.get("html_url"),
        "exp": int(time.time()) + COOKIE_AGE,
    }
    response = HTTPFound(location=kept.get("came_from") or request.route_path("c2c_index"))
    base = config.core(request.registry).base_path or "/"
    response.set_cookie(
        conf.cookie,
        sign(payload, conf.secret),
        max_age=COOKIE_AGE,
        path=base,
        httponly=True,
        samesite="Lax",
        secure=request.scheme == "https",
    )
    response.delete_cookie(STATE_COOKIE, path=base)
    return response


def logout_view(request: Any) -> Any:
    """Delete the login cookie and go back to ``came_from`` (a local path) or the index."""
    from pyramid.httpexceptions import HTTPFound

    response = HTTPFound(location=_came_from(request))
    response.delete_cookie(
        settings(request.registry).cookie, path=config.core(request.registry).base_path or "/"
    )
    return response


def includeme(config_: Any) -> None:
    """Pyramid include: the login, callback and logout routes when GitHub OAuth is configured."""
    conf = settings(config_.registry)
    if not conf.enabled:
        return
    base = config.core(config_.registry).base_path
    for name, path, view in (
        ("c2c_github_login", "/github-login", login_view),
        ("c2c_github_callback", "/github-callback", callback_view),
        ("c2c_github_logout", "/github-logout", logout_view),
    ):
        config_.add_route(name, base + path, request_method="GET")
        config_.add_view(view, route_name=name, http_cache=0)
