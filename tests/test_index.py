"""The admin index through a real Pyramid application (WebTest)."""

from __future__ import annotations

import re
from typing import Any

import pytest
import webtest
from pyramid.config import Configurator

from c2cwsgiutils import admin, config

OWN_SECRET = config.declare(
    "TEST_INDEX_OWN_SECRET",
    "test.index_own_secret",
    "",
    config.as_str,
    "A per-view secret used by the index tests only.",
    secret=True,
    feature="tests",
)


@pytest.fixture(autouse=True)
def _no_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("C2C_SECRET", "DEBUG_VIEW_SECRET", "C2C_BASE_PATH", "TEST_INDEX_OWN_SECRET"):
        monkeypatch.delenv(name, raising=False)


def hello(request: Any) -> dict[str, Any]:
    return {"hello": request.GET.get("name", "")}


def make_app(**settings: Any) -> webtest.TestApp:
    configurator = Configurator(settings=settings)
    configurator.include("c2cwsgiutils.debug")
    admin.add_admin_view(configurator, "hello", "hello", hello, title="Say hello", params=("name",))
    admin.add_admin_view(
        configurator, "own", "own", hello, title="Own secret view", secret=OWN_SECRET, methods=("POST",)
    )
    admin.add_admin_view(configurator, "public", "public", hello, title="Public view", needs_secret=False)
    configurator.include("c2cwsgiutils.index")
    return webtest.TestApp(configurator.make_wsgi_app())


def titles(page: str) -> list[str]:
    return re.findall(r"<h2>(.*?) <small>", page)


def test_index_lists_only_the_enabled_views_without_any_secret() -> None:
    app = make_app(**{"test.index_own_secret": "own"})
    page = app.get("/c2c/").text
    # C2C_SECRET and DEBUG_VIEW_SECRET are not set: the debug views and "hello" answer 404.
    assert titles(page) == ["Own secret view", "Public view"]
    assert "debug/stacks" not in page


def test_index_lists_every_view_that_c2c_secret_opens() -> None:
    app = make_app(**{"c2c.secret": "all"})
    page = app.get("/c2c/").text
    assert "Thread stacks" in titles(page)
    assert "Say hello" in titles(page)
    assert "Own secret view" in titles(page)  # C2C_SECRET opens views with their own secret too
    assert "Admin views" not in titles(page)  # the index does not list itself


def test_index_needs_no_secret_and_shows_no_secret() -> None:
    app = make_app(**{"c2c.secret": "all-the-secret"})
    page = app.get("/c2c/", status=200)
    assert "all-the-secret" not in page.text
    assert "needs the secret" in page.text


def test_index_offers_a_form_per_view_with_its_parameters() -> None:
    app = make_app(**{"c2c.secret": "all"})
    page = app.get("/c2c/").text
    assert re.search(r'<form method="get" action="/c2c/hello"[^>]*><input name="name"', page)
    assert re.search(r'<form method="post" action="/c2c/own" data-method="POST"', page)
    assert re.search(r'action="/c2c/debug/sleep"[^>]*><input name="time"', page)


def test_index_loads_nothing_from_outside() -> None:
    page = make_app(**{"c2c.secret": "all"}).get("/c2c/")
    assert not re.search(r"(src|href)=", page.text)
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]


def test_a_secret_entered_once_is_kept_in_the_cookie_and_opens_the_views() -> None:
    app = make_app(**{"c2c.secret": "all"})
    app.get("/c2c/hello", status=403)
    response = app.post("/c2c/", {"secret": "all"}, status=303)
    assert response.headers["Location"].endswith("/c2c/")
    cookie = response.headers["Set-Cookie"]
    assert "c2c-secret=all" in cookie
    assert "HttpOnly" in cookie
    assert "Path=/c2c" in cookie
    assert app.get("/c2c/hello", params={"name": "ops"}).json == {"hello": "ops"}
    assert "unlocked" in app.get("/c2c/").text


def test_a_secret_that_opens_no_view_is_refused_and_not_kept() -> None:
    app = make_app(**{"c2c.secret": "all"})
    response = app.post("/c2c/", {"secret": "wrong"}, status=403)
    assert "Set-Cookie" not in response.headers
    assert "This secret opens no admin view." in response.text


def test_a_view_secret_is_kept_too() -> None:
    app = make_app(**{"test.index_own_secret": "own"})
    app.post("/c2c/", {"secret": "own"}, status=303)
    assert app.post("/c2c/own", params={"name": "x"}).json == {"hello": ""}


def test_forget_drops_the_cookie() -> None:
    app = make_app(**{"c2c.secret": "all"})
    app.post("/c2c/", {"secret": "all"}, status=303)
    app.post("/c2c/", {"forget": "1"}, status=303)
    app.get("/c2c/hello", status=403)


def test_base_path_without_slash_is_the_index_too() -> None:
    assert "Public view" in make_app().get("/c2c", status=200).text


def test_index_links_keep_the_route_prefix_and_show_the_full_url() -> None:
    configurator = Configurator(settings={}, route_prefix="/api")
    admin.add_admin_view(configurator, "public", "public", hello, title="Public view", needs_secret=False)
    configurator.include("c2cwsgiutils.index")
    app = webtest.TestApp(configurator.make_wsgi_app())
    page = app.get("/api/c2c", extra_environ={"wsgi.url_scheme": "https", "HTTP_HOST": "app:8080"}).text
    assert 'action="/api/c2c/public"' in page
    assert "<code>GET https://app:8080/api/c2c/public</code>" in page


def test_index_follows_the_base_path() -> None:
    app = make_app(**{"c2c.base_path": "/ops"})
    assert "Public view" in app.get("/ops/").text
    assert 'action="/ops/public"' in app.get("/ops/").text


def test_no_index_when_the_base_path_is_the_root() -> None:
    app = make_app(**{"c2c.base_path": "/"})
    app.get("/", status=404)
    assert app.get("/public").json == {"hello": ""}


def test_full_include_lists_the_debug_views() -> None:
    configurator = Configurator(settings={"c2c.debug_view_secret": "dbg"})
    configurator.include("c2cwsgiutils.pyramid")
    app = webtest.TestApp(configurator.make_wsgi_app())
    page_titles = titles(app.get("/c2c/").text)
    assert {"Thread stacks", "Largest object types", "Request as received", "Sleep", "Server time"} <= set(
        page_titles
    )


def test_inline_script_and_style_are_allowed_by_their_hashes() -> None:
    import base64
    import hashlib

    response = make_app(**{"c2c.secret": "all"}).get("/c2c/")
    policy = response.headers["Content-Security-Policy"]
    for tag in ("script", "style"):
        [source] = re.findall(rf"<{tag}>(.*?)</{tag}>", response.text, re.S)
        digest = base64.b64encode(hashlib.sha256(source.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in policy


def test_6x_additional_html_is_on_the_page_its_auth_part_behind_the_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from c2cwsgiutils import index

    monkeypatch.setattr(index, "additional_title", index.paragraph("My app", title="Extras"))
    monkeypatch.setattr(index, "additional_noauth", [index.section("Public", index.link("/api/doc", "Doc"))])
    monkeypatch.setattr(
        index,
        "additional_auth",
        [index.form("/api/reset", index.input_("force", value=True), index.button("Reset"), method="post")],
    )
    app = make_app(**{"c2c.secret": "all"})
    anonymous = app.get("/c2c/").text
    assert "<p>Extras: My app</p>" in anonymous
    assert '<a href="/api/doc" class="btn btn-primary" target="_blank">Doc</a>' in anonymous
    assert "/api/reset" not in anonymous
    with_secret = app.get("/c2c/", {"secret": "all"}).text
    assert '<form action="/api/reset" target="_blank" method="post"' in with_secret
    assert 'type="checkbox" name="force" value="true"' in with_secret
    assert " checked>" in with_secret


def test_6x_index_helpers_build_html() -> None:
    from c2cwsgiutils import index

    assert index.link(None, "x") == ""
    assert 'type="number" name="count" value="3"' in index.input_("count", value=3)
    assert '<label for="' in index.input_("my_name")
    assert ">My name</label>" in index.input_("my_name")
    assert "<label" not in index.input_("token", type_="hidden", value="t")
    assert index.section("T", "a", sep=False) == "<section><h2>T</h2>a</section>"
