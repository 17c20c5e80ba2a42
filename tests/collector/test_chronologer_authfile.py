"""C2C_COLLECTOR_CREDENTIALS_FILE takes Chronologer's JSON authfile as it is (issue #24)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path

import pytest
import webtest

from c2cwsgiutils.collector.http.auth import Authenticator

# Entries of Chronologer 0.4.7's own tests (its test vectors: the passwords are known).
BOB = {
    "username": "bob",
    "pbkdf2": "f57ef1e3e8f90cb367dedd44091f251b5b15c9c36ddd7923731fa7ee41cbaa82",
    "hashname": "sha256",
    "salt": "c0139cff",
    "iterations": 32,
    "roles": ["basic-reader"],
}
OBO = {
    "username": "obo",
    "pbkdf2": "ff680a9237549f698da5345119dec1ed314eb4fdefe59837d0724d747c3169"
    "089ae45215ec98b7c84b7b8b3ac1589139",
    "hashname": "sha384",
    "salt": "9230dbdd5a13f009",
    "iterations": 4096,
    "roles": ["basic-reader"],
}
DANNY = {
    "username": "danny",
    "pbkdf2": "dbe40d2f05026ea82c37e2c05125c6ad56fad460",
    "hashname": "sha1",
    "salt": "pepper",
    "iterations": 1,
    "roles": ["basic-reader", "query-reader"],
}
DAVID = {
    "username": "david",
    "pbkdf2": "f1d19a11d3d6d4694907d1538a20bff5a3e4e1057b5bc9a0c3acdb082140e165",
    "hashname": "sha256",
    "salt": "salty caramel",
    "iterations": 1024,
    "roles": ["writer"],
}


def _basic(name: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{name}:{password}".encode()).decode()


def _authenticator(tmp_path: Path, entries: list[object]) -> Authenticator:
    path = tmp_path / "authfile.json"
    path.write_text(json.dumps(entries), encoding="utf-8")
    return Authenticator(credentials_file=str(path))


@pytest.mark.parametrize(
    ("name", "password", "roles"),
    [
        ("bob", "obo", {"basic-reader"}),
        ("obo", "bob", {"basic-reader"}),
        ("danny", "6.5/8", {"basic-reader", "query-reader"}),
        ("david", "bodenos8", {"writer"}),
    ],
)
def test_chronologer_authfile_password_is_accepted(
    tmp_path: Path, name: str, password: str, roles: set[str]
) -> None:
    principal = _authenticator(tmp_path, [BOB, OBO, DANNY, DAVID]).caller(None, _basic(name, password))
    assert principal is not None
    assert (principal.name, set(principal.roles)) == (name, set(roles))


def test_chronologer_authfile_wrong_password_is_refused(tmp_path: Path) -> None:
    authenticator = _authenticator(tmp_path, [BOB, DAVID])
    assert authenticator.caller(None, _basic("bob", "")) is None
    assert authenticator.caller(None, _basic("david", "123")) is None
    assert authenticator.caller(None, _basic("alice", "obo")) is None


def test_chronologer_authfile_unknown_role_names_it(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="guitar"):
        _authenticator(tmp_path, [{**BOB, "roles": ["guitar"]}])


def test_chronologer_authfile_unknown_hash_names_it(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="hashname of 'bob'"):
        _authenticator(tmp_path, [{**BOB, "hashname": "md5"}])


def test_chronologer_role_names_are_taken_in_tokens() -> None:
    authenticator = Authenticator(tokens=["logger:basic-reader+query-reader+writer:pw"])
    principal = authenticator.caller(None, _basic("logger", "pw"))
    assert principal is not None
    assert principal.roles == {"basic-reader", "query-reader", "writer"}
    assert (principal.has("reader"), principal.has("basic-reader"), principal.has("writer")) == (
        True,
        True,
        True,
    )


@pytest.mark.parametrize(
    ("roles", "without_query", "with_query"),
    [
        ("basic-reader", 200, 403),
        ("basic-reader+query-reader", 200, 200),
        ("query-reader", 403, 403),  # as Chronologer: query-reader adds query= to basic-reader
        ("reader", 200, 200),
        ("writer", 403, 403),
    ],
)
def test_chronologer_read_roles(
    sqlite_url: str, make_app: Callable[..., webtest.TestApp], roles: str, without_query: int, with_query: int
) -> None:
    app = make_app(sqlite_url, tokens=f"ann:{roles}:pw")
    headers = {"Authorization": _basic("ann", "pw")}
    plain = app.head("/api/v1/record", headers=headers, status="*").status_int
    queried = app.get("/api/v1/record", params={"query": "level >= 0"}, headers=headers, status="*")
    assert (plain, queried.status_int) == (without_query, with_query)


def test_unknown_credentials_are_401_not_403(
    sqlite_url: str, make_app: Callable[..., webtest.TestApp]
) -> None:
    app = make_app(sqlite_url, tokens="ann:basic-reader:pw")
    assert (
        app.head("/api/v1/record", headers={"Authorization": _basic("ann", "wrong")}, status="*").status_int
        == 401
    )


def test_a_credential_without_roles_is_known_and_may_do_nothing(
    sqlite_url: str, make_app: Callable[..., webtest.TestApp]
) -> None:
    app = make_app(sqlite_url, tokens="ann::pw")
    answer = app.head("/api/v1/record", headers={"Authorization": _basic("ann", "pw")}, status="*")
    assert answer.status_int == 403
