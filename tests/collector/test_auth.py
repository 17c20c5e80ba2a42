"""Roles, tokens, HTTP Basic and the credentials file of the collector."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path

import pytest
import webtest

from c2cwsgiutils.collector.http.auth import Authenticator, check_listen_address, hash_secret
from tests.collector.records import ndjson, wire

TOKENS = "shipper:writer:w-secret,ui:reader:r-secret,ops:admin:a-secret"
NDJSON = "application/x-ndjson"


@pytest.fixture
def secured(sqlite_url: str, make_app: Callable[..., webtest.TestApp]) -> webtest.TestApp:
    return make_app(sqlite_url, tokens=TOKENS)


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_no_credentials_is_401_with_a_basic_challenge(secured: webtest.TestApp) -> None:
    response = secured.head("/api/v1/record", status=401)
    assert response.headers["WWW-Authenticate"].startswith("Basic")


def test_writer_token_may_post(secured: webtest.TestApp) -> None:
    secured.post(
        "/api/v1/record",
        ndjson(wire()),
        headers={"Content-Type": NDJSON, "Authorization": "Bearer w-secret"},
        status=201,
    )


def test_writer_may_not_read(secured: webtest.TestApp) -> None:
    assert (
        secured.get("/api/v1/record", headers={"Authorization": "Bearer w-secret"}, status=403).json["type"]
        == "forbidden"
    )


def test_reader_may_read_with_x_api_key_but_not_write(secured: webtest.TestApp) -> None:
    secured.get("/api/v1/record", headers={"X-API-Key": "r-secret"}, status=200)
    secured.post(
        "/api/v1/record",
        ndjson(wire()),
        headers={"Content-Type": NDJSON, "X-API-Key": "r-secret"},
        status=403,
    )


def test_admin_may_do_everything(secured: webtest.TestApp) -> None:
    headers = {"Authorization": "Bearer a-secret"}
    secured.post("/api/v1/record", ndjson(wire()), headers={**headers, "Content-Type": NDJSON}, status=201)
    assert secured.head("/api/v1/record", headers=headers).headers["X-Record-Count"] == "1"


def test_wrong_token_is_401(secured: webtest.TestApp) -> None:
    assert (
        secured.get("/api/v1/record", headers={"Authorization": "Bearer nope"}, status=401).json["type"]
        == "unauthorized"
    )


def test_basic_auth_needs_the_matching_user(secured: webtest.TestApp) -> None:
    secured.post(
        "/api/v1/record",
        json.dumps(wire()),
        headers={**basic("shipper", "w-secret"), "Content-Type": "application/json"},
        status=201,
    )
    secured.post(
        "/api/v1/record",
        json.dumps(wire()),
        headers={**basic("ui", "w-secret"), "Content-Type": "application/json"},
        status=401,
    )


def test_a_basic_header_that_is_not_ascii_is_401(secured: webtest.TestApp) -> None:
    response = secured.post(
        "/api/v1/record",
        json.dumps(wire()),
        headers={"Authorization": "Basic c2hpcHBlcjp3LXNlY3JldA\u00e9", "Content-Type": "application/json"},
        status=401,
    )
    assert response.json["type"] == "unauthorized"


def test_the_same_header_gives_the_same_caller_every_time() -> None:
    authenticator = Authenticator(["shipper:writer:w-secret", "ui:reader:r-secret"])
    right, wrong = basic("shipper", "w-secret"), basic("ui", "w-secret")
    for _ in range(3):
        assert [authenticator.authenticate(right), authenticator.authenticate(wrong)] == [
            authenticator.caller(None, right["Authorization"]),
            None,
        ]
    principal = authenticator.authenticate(right)
    assert principal is not None
    assert (principal.name, authenticator.authenticate({"X-API-Key": "r-secret"})) == (
        "shipper",
        authenticator.caller("r-secret", None),
    )


def test_openapi_document_is_public(secured: webtest.TestApp) -> None:
    assert secured.get("/api/v1/openapi.json").json["openapi"].startswith("3.")


def test_credentials_file_holds_hashed_secrets(
    tmp_path: Path, sqlite_url: str, make_app: Callable[..., webtest.TestApp]
) -> None:
    path = tmp_path / "credentials"
    path.write_text(f"# shipping\nlogger:writer:{hash_secret('pw', iterations=1000)}\n", encoding="utf-8")
    app = make_app(sqlite_url, credentials_file=str(path))
    app.post(
        "/api/v1/record",
        json.dumps(wire()),
        headers={**basic("logger", "pw"), "Content-Type": "application/json"},
        status=201,
    )
    app.post(
        "/api/v1/record",
        json.dumps(wire()),
        headers={**basic("logger", "bad"), "Content-Type": "application/json"},
        status=401,
    )


def test_credentials_file_refuses_plain_secrets(tmp_path: Path) -> None:
    path = tmp_path / "credentials"
    path.write_text("logger:writer:plain\n", encoding="utf-8")
    with pytest.raises(ValueError, match="hash-secret"):
        Authenticator((), str(path))


def test_unknown_role_is_refused() -> None:
    with pytest.raises(ValueError, match="roles"):
        Authenticator(("x:superuser:s",))


def test_listening_beyond_localhost_without_credentials_is_refused() -> None:
    with pytest.raises(ValueError, match=r"Refusing to listen on '0\.0\.0\.0'"):
        check_listen_address("0.0.0.0", Authenticator())


def test_listening_beyond_localhost_with_credentials_is_allowed() -> None:
    check_listen_address("0.0.0.0", Authenticator(("a:admin:s",)))
    check_listen_address("127.0.0.1", Authenticator())


def _slow_file(tmp_path: Path, count: int = 4, iterations: int = 20_000) -> Path:
    path = tmp_path / "credentials"
    lines = [f"app{i}:writer:{hash_secret(f'pw{i}', iterations)}" for i in range(count)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_random_bearer_tokens_cost_one_hash_with_fast_credentials() -> None:
    authenticator = Authenticator([f"app{i}:writer:secret-{i}" for i in range(200)])
    assert authenticator.caller(None, "Bearer secret-199", "10.0.0.1") is not None
    for attempt in range(1000):  # never rate-limited: a wrong token costs one SHA-256
        assert authenticator.caller(None, f"Bearer random-{attempt}", "10.0.0.1") is None


def test_failed_slow_checks_are_rate_limited_per_address(tmp_path: Path) -> None:
    from c2cwsgiutils.collector.http.auth import MAX_FAILURES, AuthError

    authenticator = Authenticator(credentials_file=str(_slow_file(tmp_path)))
    for attempt in range(MAX_FAILURES):
        assert authenticator.caller(None, f"Bearer random-{attempt}", "10.0.0.1") is None
    with pytest.raises(AuthError) as raised:
        authenticator.caller(None, "Bearer one-more", "10.0.0.1")
    assert raised.value.status == 429
    assert raised.value.retry_after > 0
    # Another address, and a known good secret from the limited one, still get through.
    assert authenticator.caller(None, "Bearer pw1", "10.0.0.2") is not None
    assert authenticator.caller(None, "Bearer pw1", "10.0.0.1") is not None


def test_a_token_may_name_its_credential(tmp_path: Path) -> None:
    authenticator = Authenticator(["fast:reader:f-secret"], credentials_file=str(_slow_file(tmp_path)))
    assert authenticator.caller("app2:pw2", None) == authenticator.caller(None, "Bearer pw2")
    assert authenticator.caller(None, "Bearer fast:f-secret") is not None
    assert authenticator.caller(None, "Bearer app2:wrong") is None
    assert authenticator.caller(None, "Bearer app1:pw2") is None  # another credential's secret


def test_too_many_failures_answer_429_with_retry_after(
    sqlite_url: str, make_app: Callable[..., webtest.TestApp], tmp_path: Path
) -> None:
    app = make_app(sqlite_url, credentials_file=str(_slow_file(tmp_path, count=1)))
    statuses = [
        app.post(
            "/api/v1/record",
            ndjson(wire()),
            headers={"Content-Type": NDJSON, "Authorization": f"Bearer x{i}"},
            expect_errors=True,
        )
        for i in range(12)
    ]
    assert [r.status_int for r in statuses[:10]] == [401] * 10
    assert statuses[-1].status_int == 429
    assert int(statuses[-1].headers["Retry-After"]) > 0
    assert statuses[-1].json["type"] == "too_many_attempts"
