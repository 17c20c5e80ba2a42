"""The admin index, ``{C2C_BASE_PATH}/``: every enabled admin view, with a form to call it.

The page needs no secret: it shows which views exist (those registered with
:func:`c2cwsgiutils.admin.add_admin_view` whose secret is configured) and offers a form to enter
the secret once; a secret that opens at least one view is kept in the ``c2c-secret`` cookie
(HTTP-only, SameSite=Strict, limited to ``C2C_BASE_PATH``), which every admin view accepts.
Views answer in the page (a few lines of inline script; no external file, CSS or CDN) or, without
JavaScript, by plain navigation.
"""

from __future__ import annotations

import base64
import hashlib
import html
import itertools
import logging
import urllib.parse
from typing import Any

from c2cwsgiutils import admin, auth, config
from c2cwsgiutils._deprecated import init_alias

__all__ = [
    "additional_auth",
    "additional_noauth",
    "additional_title",
    "button",
    "form",
    "includeme",
    "index_view",
    "input_",
    "link",
    "paragraph",
    "section",
]

LOG = logging.getLogger(__name__)

_STYLE = (
    "body{font-family:sans-serif;margin:1.5em;max-width:70em}"
    "section{border-top:1px solid #ccc;padding:.4em 0}"
    "h2{font-size:1.05em;margin:.3em 0}"
    "code{background:#f3f3f3;padding:0 .2em}"
    ".locked{color:#a00}.open{color:#070}"
    "form{display:inline-block;margin:.2em 1em .2em 0}"
    "input{margin-right:.3em}"
    "pre{background:#f6f6f6;max-height:30em;overflow:auto;white-space:pre-wrap}"
)
# Views answer inside the page; empty fields are left out so that optional parameters keep
# their defaults. Without JavaScript the forms still work by navigation.
_SCRIPT = """
document.querySelectorAll("form[data-call]").forEach(function (form) {
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var params = new URLSearchParams();
    new FormData(form).forEach(function (value, key) { if (value !== "") params.append(key, value); });
    var query = params.toString();
    var url = form.getAttribute("action") + (query ? "?" + query : "");
    var out = document.getElementById(form.dataset.call);
    out.hidden = false;
    out.textContent = form.dataset.method + " " + url + " ...";
    fetch(url, {method: form.dataset.method, credentials: "same-origin"}).then(function (response) {
      return response.text().then(function (text) {
        try { text = JSON.stringify(JSON.parse(text), null, 2); } catch (error) { /* not JSON */ }
        out.textContent = response.status + " " + response.statusText + "\\n" + text;
      });
    }).catch(function (error) { out.textContent = String(error); });
  });
});
"""


# 6.x's extension points: HTML an application appends to the page, the ``additional_auth`` part only
# for a request that carries a secret (or a GitHub login). Build it with the helpers below.
additional_title: str | None = None
additional_noauth: list[str] = []
additional_auth: list[str] = []
_element_ids = itertools.count()


def section(title: str, *content: str, sep: bool | None = True) -> str:
    """An HTML section: ``title`` as a heading over ``content`` (HTML), a rule after it when ``sep``."""
    body = "\n".join(content)
    return f"<section><h2>{title}</h2>{body}</section>" + ("<hr>" if sep else "")


def paragraph(*content: str, title: str | None = None) -> str:
    """An HTML paragraph of ``content`` (HTML), prefixed with ``title:`` when given."""
    prefix = f"{title}: " if title else ""
    return "<p>" + prefix + "\n".join(content) + "</p>"


def link(url: str | None, label: str, cssclass: str = "btn btn-primary", target: str = "_blank") -> str:
    """An HTML link to ``url`` (escaped) labelled ``label`` (HTML); ``""`` when ``url`` is ``None``."""
    if url is None:
        return ""
    attributes = f' class="{html.escape(cssclass)}"' if cssclass else ""
    attributes += f' target="{html.escape(target)}"' if target else ""
    return f'<a href="{html.escape(url)}"{attributes}>{label}</a>'


def form(url: str | None, *content: str, method: str = "get", target: str = "_blank") -> str:
    """An HTML form sending its ``content`` (HTML: inputs, buttons) to ``url`` by ``method``."""
    if url is None:
        raise ValueError("form() needs the URL it is sent to")
    encoding = ' method="post" enctype="multipart/form-data"' if method == "post" else ""
    body = "\n".join(content)
    return f'<form action="{html.escape(url)}" target="{html.escape(target)}"{encoding}>{body}</form>'


def input_(name: str, label: str | None = None, type_: str | None = None, value: str | int = "") -> str:
    """An HTML input named ``name``; its type follows ``value`` when not given (number, checkbox,
    text) and its label defaults to the name, capitalised (none for a hidden input)."""
    id_ = f"c2c-input-{next(_element_ids)}"
    if label is None and type_ != "hidden":
        label = name.replace("_", " ").capitalize()
    if type_ is None:
        type_ = "checkbox" if isinstance(value, bool) else "number" if isinstance(value, int) else "text"
    label_html = f'<label for="{id_}">{label}</label> ' if label is not None else ""
    if type_ == "checkbox":
        checked = " checked" if value else ""
        box = f'<input type="checkbox" name="{html.escape(name)}" value="true" id="{id_}"{checked}>'
        return f"<div>{box} {label_html}</div>"
    return (
        f'<div>{label_html}<input type="{html.escape(type_)}" name="{html.escape(name)}" '
        f'value="{html.escape(str(value))}" id="{id_}"></div>'
    )


def button(label: str) -> str:
    """An HTML submit button labelled ``label`` (HTML)."""
    return f'<button type="submit">{label}</button>'


def _additional(request: Any) -> str:
    """What the application appended (6.x's ``additional_*``), the ``_auth`` part behind a secret."""
    allowed = auth.is_authenticated(request)
    parts = list(additional_noauth) + (list(additional_auth) if allowed else [])
    if not parts:
        return ""
    return (additional_title or "") + "\n".join(parts)


def _csp_hash(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode("utf-8")).digest()).decode() + "'"


_CSP = (
    f"default-src 'none'; style-src {_csp_hash(_STYLE)}; script-src {_csp_hash(_SCRIPT)}; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def _enabled_views(request: Any) -> list[admin.AdminView]:
    return [
        view
        for view in admin.admin_views(request.registry)
        if view.name != "index"
        # An open view tied to a secret (debug/time) is there only while that secret is configured.
        and (
            (not view.needs_secret and view.secret is None)
            or auth.is_configured(request.registry, view.secret)
        )
    ]


def _view_section(request: Any, base: str, number: int, view: admin.AdminView) -> str:
    esc = html.escape
    # The route knows the application's route_prefix; forms use the path, the full URL (scheme and
    # host as the request came, X-Forwarded-* applied by the client_info filter) is shown as in 6.x.
    url = request.route_path("c2c_index").rstrip("/") + f"/{view.path}"
    full_url = request.route_url("c2c_index").rstrip("/") + f"/{view.path}"
    if not view.needs_secret:
        status = '<span class="open">open</span>'
    elif auth.is_authenticated(request, view.secret):
        status = '<span class="open">unlocked</span>'
    else:
        status = '<span class="locked">needs the secret</span>'
    fields = "".join(
        f'<input name="{esc(param)}" placeholder="{esc(param)}" aria-label="{esc(param)}">'
        for param in view.params
    )
    forms = "".join(
        f'<form method="{"get" if method == "GET" else "post"}" action="{esc(url)}" '
        f'data-method="{esc(method)}" data-call="out-{number}">{fields}<button>{esc(method)}</button></form>'
        for method in view.methods
    )
    return (
        f"<section><h2>{esc(view.title)} <small>{status}</small></h2>"
        f"<code>{esc(' '.join(view.methods))} {esc(full_url)}</code><br>{forms}"
        f'<pre id="out-{number}" hidden></pre></section>'
    )


def _github_links(request: Any, base: str) -> str:
    from c2cwsgiutils import github_auth

    if not github_auth.settings(request.registry).enabled:
        return ""
    user = github_auth.logged_in_user(request)
    if user is None:
        came_from = urllib.parse.quote(f"{base}/", safe="")
        return f'<p><a href="{base}/github-login?came_from={came_from}">Log in with GitHub</a></p>'
    login = html.escape(str(user.get("login")))
    return f'<p>Logged in with GitHub as {login}. <a href="{base}/github-logout">Log out</a></p>'


def _page(request: Any, base: str, message: str = "") -> str:
    views = _enabled_views(request)
    has_secret = auth.provided_secret(request) is not None
    sections = "".join(_view_section(request, base, number, view) for number, view in enumerate(views))
    forget = (
        '<form method="post"><input type="hidden" name="forget" value="1">'
        "<button>Forget the secret</button></form>"
        if has_secret
        else ""
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Admin views</title><style>{_STYLE}</style></head><body>"
        "<h1>Admin views</h1>"
        f"{f'<p class=locked>{html.escape(message)}</p>' if message else ''}"
        '<form method="post"><input type="password" name="secret" placeholder="secret" '
        'autocomplete="current-password" aria-label="secret"><button>Use this secret</button></form>'
        f"{forget}"
        f"{_github_links(request, base)}"
        f"{sections or '<p>No admin view is enabled: set C2C_SECRET or a view secret.</p>'}"
        f"{_additional(request)}"
        f"<script>{_SCRIPT}</script></body></html>"
    )


def _opens_a_view(request: Any, secret: str) -> bool:
    import hmac

    for view in _enabled_views(request):
        expected = auth.configured_secret(request.registry, view.secret)
        if view.needs_secret and hmac.compare_digest(secret.encode("utf-8"), expected.encode("utf-8")):
            return True
    return False


def index_view(request: Any) -> Any:
    """GET: the page. POST ``secret``: keep it in the cookie when it opens a view (303 back to the
    page, 403 otherwise); POST ``forget``: drop the cookie."""
    from pyramid.httpexceptions import HTTPSeeOther
    from pyramid.response import Response

    base = config.core(request.registry).base_path
    cookie_path = base or "/"
    if request.method == "POST":
        response = HTTPSeeOther(location=f"{base}/")
        secret = request.POST.get("secret", "")
        if request.POST.get("forget"):
            response.delete_cookie(auth.SECRET_COOKIE, path=cookie_path)
        elif secret and _opens_a_view(request, secret):
            response.set_cookie(
                auth.SECRET_COOKIE,
                secret,
                path=cookie_path,
                httponly=True,
                samesite="Strict",
                secure=request.scheme == "https",
            )
        else:
            page = _page(request, base, "This secret opens no admin view.")
            response = Response(page, status=403, content_type="text/html", charset="utf-8")
        response.headers["Content-Security-Policy"] = _CSP
        return response
    response = Response(_page(request, base), content_type="text/html", charset="utf-8")
    response.headers["Content-Security-Policy"] = _CSP
    response.headers["X-Frame-Options"] = "DENY"
    return response


def includeme(config_: Any) -> None:
    """Pyramid include: the index at ``{C2C_BASE_PATH}/`` (include it after the other features)."""
    base = config.core(config_.registry).base_path
    if not base:
        LOG.warning("Admin index disabled: C2C_BASE_PATH is '/', the index would hide the application's root")
        return
    admin.add_admin_view(
        config_,
        "index",
        "",
        index_view,
        title="Admin views",
        methods=("GET", "POST"),
        needs_secret=False,
        renderer=None,
    )

    # The page at the base path without its slash too, as 6.x (its links are absolute paths).
    config_.add_route("c2c_index_without_slash", base, request_method=("GET", "POST"))
    config_.add_view(index_view, route_name="c2c_index_without_slash", http_cache=0)


init = init_alias(__name__)  # 6.x's set-up function, deprecated: config.include(this module)
