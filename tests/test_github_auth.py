"""GitHub OAuth for the admin views, end to end against a local stand-in speaking GitHub's protocol.

The stand-in (a real HTTP server on a free port) does what github.com and api.github.com do for an
OAuth app: the authorize redirect with ``code`` and ``state``, the code-for-token exchange, ``/user``
and ``/repos/{owner}/{name}`` with the user's ``permissions``.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import webtest
from pyramid.config import Configurator

from c2cwsgiutils import admin, github_auth

CLIENT_ID = "client-id-1"
CLIENT_SECRET = "client-secret-1"
REPOSITORY = "camptocamp/app"
SIGNING_KEY = "0123456789abcdef-signing"

USERS = {
    "pusher": {"admin": False, "push": True, "pull": True},
    "reader": {"admin": False, "push": False, "pull": True},
}


@dataclass
class StandIn:
    """State of the fake GitHub: who logs in next, the codes and tokens it handed out."""

    url: str = ""
    next_login: str = "pusher"
    codes: dict[str, str] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)


def _handler(state: StandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            del format, args

        def _json(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _user(self) -> str | None:
            auth = self.headers.get("Authorization", "")
            return state.tokens.get(auth.removeprefix("Bearer ").removeprefix("token "))

        def do_GET(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            query = dict(urllib.parse.parse_qsl(url.query))
            if url.path == "/login/oauth/authorize":
                if query.get("client_id") != CLIENT_ID or "redirect_uri" not in query:
                    self._json(400, {"error": "bad client"})
                    return
                code = secrets.token_hex(8)
                state.codes[code] = state.next_login
                sep = "&" if "?" in query["redirect_uri"] else "?"
                target = (
                    query["redirect_uri"]
                    + sep
                    + urllib.parse.urlencode({"code": code, "state": query.get("state", "")})
                )
                self.send_response(302)
                self.send_header("Location", target)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            login = self._user()
            if login is None:
                self._json(401, {"message": "Requires authentication"})
            elif url.path == "/user":
                self._json(200, {"login": login, "name": login.title(), "html_url": f"{state.url}/{login}"})
            elif url.path == f"/repos/{REPOSITORY}":
                self._json(200, {"full_name": REPOSITORY, "permissions": USERS[login]})
            else:
                self._json(404, {"message": "Not Found"})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
            if self.path != "/login/oauth/access_token":
                self._json(404, {"message": "Not Found"})
            elif form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
                self._json(200, {"error": "incorrect_client_credentials"})
            elif form.get("code") not in state.codes:
                self._json(200, {"error": "bad_verification_code"})
            else:
                token = secrets.token_hex(16)
                state.tokens[token] = state.codes.pop(form["code"])
                self._json(200, {"access_token": token, "token_type": "bearer", "scope": "repo"})

    return Handler


@pytest.fixture
def standin() -> Iterator[StandIn]:
    state = StandIn()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


@pytest.fixture(autouse=True)
def _no_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("C2C_SECRET", "C2C_BASE_PATH"):
        monkeypatch.delenv(name, raising=False)
    for name in github_auth.GitHubSettings.__dataclass_fields__:
        monkeypatch.delenv(f"C2C_AUTH_GITHUB_{name.upper()}", raising=False)


def hello(request: Any) -> dict[str, Any]:
    return {"hello": "admin"}


def make_app(standin: StandIn, **extra: str) -> webtest.TestApp:
    settings = {
        "c2c.auth.github.repository": REPOSITORY,
        "c2c.auth.github.access_type": "push",
        "c2c.auth.github.client_id": CLIENT_ID,
        "c2c.auth.github.client_secret": CLIENT_SECRET,
        "c2c.auth.github.auth_url": f"{standin.url}/login/oauth/authorize",
        "c2c.auth.github.token_url": f"{standin.url}/login/oauth/access_token",
        "c2c.auth.github.user_url": f"{standin.url}/user",
        "c2c.auth.github.repo_url": f"{standin.url}/repos",
        "c2c.auth.github.auth.secret": SIGNING_KEY,
        **extra,
    }
    configurator = Configurator(settings=settings)
    configurator.include("c2cwsgiutils.github_auth")
    admin.add_admin_view(configurator, "hello", "hello", hello, title="Say hello")
    configurator.include("c2cwsgiutils.index")
    return webtest.TestApp(configurator.make_wsgi_app())


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def authorize(url: str) -> str:
    """What the browser does at GitHub: open the authorize URL, get redirected to the callback."""
    opener = urllib.request.build_opener(_NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as info:
        opener.open(url, timeout=10)
    info.value.close()
    assert info.value.code == 302
    location = info.value.headers["Location"]
    assert isinstance(location, str)
    return location


def login(app: webtest.TestApp, came_from: str = "/c2c/hello") -> webtest.TestResponse:
    start = app.get("/c2c/github-login", {"came_from": came_from}, status=302)
    callback = authorize(start.location)
    assert callback.startswith("http://localhost/c2c/github-callback?")
    return app.get(callback.removeprefix("http://localhost"), expect_errors=True)


def test_a_user_with_push_access_opens_an_admin_view_after_the_login(standin: StandIn) -> None:
    app = make_app(standin)
    app.get("/c2c/hello", status=403)
    assert "Log in with GitHub" in app.get("/c2c/").text
    response = login(app)
    assert response.status_int == 302
    assert response.location.endswith("/c2c/hello")
    assert app.get("/c2c/hello", status=200).json == {"hello": "admin"}
    page = app.get("/c2c/").text
    assert "unlocked" in page
    assert "Logged in with GitHub as pusher" in page
    app.get("/c2c/github-logout", status=302)
    app.get("/c2c/hello", status=403)


def test_a_user_without_the_access_type_gets_403(standin: StandIn) -> None:
    standin.next_login = "reader"
    app = make_app(standin)
    response = login(app)
    assert response.status_int == 403
    assert "push" in response.json["message"]
    app.get("/c2c/hello", status=403)
    # pull access is enough when that is what is asked.
    app = make_app(standin, **{"c2c.auth.github.access_type": "pull"})
    assert login(app).status_int == 302
    app.get("/c2c/hello", status=200)


def test_a_forged_or_tampered_cookie_is_refused(standin: StandIn) -> None:
    app = make_app(standin)
    payload = {"login": "mallory", "name": "M", "url": "", "exp": int(time.time()) + 3600}
    app.set_cookie("c2c-auth-jwt", github_auth.sign(payload, "another-key-of-16-chars"))
    app.get("/c2c/hello", status=403)
    app.set_cookie("c2c-auth-jwt", "not-even-a-cookie")
    app.get("/c2c/hello", status=403)
    good = github_auth.sign(payload, SIGNING_KEY)
    body, _, mac = good.partition(".")
    tampered = github_auth.sign({**payload, "login": "root"}, SIGNING_KEY).partition(".")[0] + "." + mac
    app.set_cookie("c2c-auth-jwt", tampered)
    app.get("/c2c/hello", status=403)
    expired = github_auth.sign({**payload, "exp": int(time.time()) - 1}, SIGNING_KEY)
    app.set_cookie("c2c-auth-jwt", expired)
    app.get("/c2c/hello", status=403)
    app.set_cookie("c2c-auth-jwt", good)  # control: the right key opens the view
    app.get("/c2c/hello", status=200)
    assert body


def test_a_callback_without_the_state_of_the_login_is_refused(standin: StandIn) -> None:
    app = make_app(standin)
    start = app.get("/c2c/github-login", status=302)
    callback = authorize(start.location).removeprefix("http://localhost")
    forged = callback.replace("state=", "state=x")
    assert app.get(forged, status=400).json["status"] == 400
    app.get("/c2c/hello", status=403)


def test_an_absolute_came_from_is_not_followed(standin: StandIn) -> None:
    app = make_app(standin)
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example/"):
        response = login(app, came_from=target)
        assert response.status_int == 302
        assert response.location == "http://localhost/c2c/"


def test_a_short_signing_key_is_refused_at_start_up(standin: StandIn) -> None:
    from c2cwsgiutils.config import ConfigError

    with pytest.raises(ConfigError, match="C2C_AUTH_GITHUB_SECRET"):
        make_app(standin, **{"c2c.auth.github.auth.secret": "short"})


def test_the_6x_auth_api_sees_the_github_login(standin: StandIn) -> None:
    from c2cwsgiutils import auth

    app = make_app(standin)
    settings = app.app.registry.settings
    assert auth.auth_type(settings) is auth.AuthenticationType.GITHUB
    assert auth.auth_type({**settings, "c2c.secret": "s"}) is auth.AuthenticationType.SECRET

    def whoami(request: Any) -> dict[str, Any]:
        return {"user": auth.is_auth_user(request)[1], "check": auth.check_access(request)}

    configurator = Configurator(settings=settings)
    configurator.include("c2cwsgiutils.github_auth")
    admin.add_admin_view(configurator, "hello", "hello", whoami, title="Who am I")
    app = webtest.TestApp(configurator.make_wsgi_app())
    assert login(app).status_int == 302
    assert app.get("/c2c/hello").json == {
        "user": {"login": "pusher", "name": "Pusher", "url": f"{standin.url}/pusher"},
        "check": True,
    }


def test_the_proxy_url_wraps_the_callback_in_came_from(standin: StandIn) -> None:
    app = make_app(standin, **{"c2c.auth.github.auth.proxy_url": "https://proxy.example/oauth?x=1"})
    start = app.get("/c2c/github-login", status=302)
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(start.location).query))
    redirect = urllib.parse.urlsplit(query["redirect_uri"])
    assert (redirect.netloc, redirect.path) == ("proxy.example", "/oauth")
    proxied = dict(urllib.parse.parse_qsl(redirect.query))
    assert proxied == {"x": "1", "came_from": "http://localhost/c2c/github-callback"}
