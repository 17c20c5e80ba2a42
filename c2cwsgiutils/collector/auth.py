"""Who may call the collector: roles ``writer`` (POST), ``reader`` (GET/HEAD) and ``admin`` (all).

Credentials are ``name:roles:secret`` entries: from ``C2C_COLLECTOR_TOKENS`` (plain secrets, e.g.
from a secret store) or from ``C2C_COLLECTOR_CREDENTIALS_FILE`` (``name:roles:hash`` lines, hashes
made by ``c2cwsgiutils-logs hash-secret``). A secret is accepted as an API token
(``Authorization: Bearer``, ``X-API-Key``) or as the HTTP Basic password of user ``name`` (what
``logging.handlers.HTTPHandler(credentials=(name, secret))`` sends). Without any credential the
collector is open, which ``c2cwsgiutils-logs serve`` only allows on a loopback address.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import threading
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "LOOPBACK_HOSTS",
    "ROLES",
    "AuthError",
    "Authenticator",
    "Principal",
    "check_listen_address",
    "hash_secret",
]

ROLES = frozenset(("writer", "reader", "admin"))
LOOPBACK_HOSTS = frozenset(("127.0.0.1", "localhost", "::1", "[::1]", "ip6-localhost"))
PBKDF2_ITERATIONS = 200_000
_CACHE_SIZE = 1024


class AuthError(Exception):
    """401 (``status=401``, no or unknown credentials) or 403 (the role is missing)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Principal:
    """An authenticated caller."""

    name: str
    roles: frozenset[str]

    def has(self, role: str) -> bool:
        """Whether the caller holds ``role`` (``admin`` holds every role)."""
        return role in self.roles or "admin" in self.roles


@dataclass(frozen=True)
class _Credential:
    principal: Principal
    digest: str  # "sha256$hex" or "pbkdf2_sha256$iterations$salt$hex"


def hash_secret(secret: str, iterations: int = PBKDF2_ITERATIONS) -> str:
    """A salted PBKDF2-SHA256 hash of ``secret`` for the credentials file."""
    salt = os.urandom(16).hex()
    digest = hashlib.pbkdf2_hmac("sha256", secret.encode("utf-8"), salt.encode("ascii"), iterations)
    return f"pbkdf2_sha256${iterations}${salt}${digest.hex()}"


def _verify(secret: str, digest: str) -> bool:
    parts = digest.split("$")
    if parts[0] == "sha256" and len(parts) == 2:
        computed = hashlib.sha256(secret.encode("utf-8")).hexdigest()
        return hmac.compare_digest(computed, parts[1])
    if parts[0] == "pbkdf2_sha256" and len(parts) == 4:
        iterations, salt, expected = int(parts[1]), parts[2], parts[3]
        computed = hashlib.pbkdf2_hmac(
            "sha256", secret.encode("utf-8"), salt.encode("ascii"), iterations
        ).hex()
        return hmac.compare_digest(computed, expected)
    return False


def _parse_entry(entry: str, hashed: bool, origin: str) -> _Credential:
    parts = entry.strip().split(":", 2)
    if len(parts) != 3 or not parts[0] or not parts[2]:
        raise ValueError(f"{origin}: an entry must look like name:roles:{'hash' if hashed else 'secret'}")
    name, roles_text, secret = parts
    roles = frozenset(role.strip() for role in roles_text.split("+") if role.strip())
    if not roles or not roles <= ROLES:
        raise ValueError(f"{origin}: roles of {name!r} must be among {'+'.join(sorted(ROLES))}")
    if hashed:
        if not (secret.startswith("sha256$") or secret.startswith("pbkdf2_sha256$")):
            raise ValueError(
                f"{origin}: the secret of {name!r} must be a hash from `c2cwsgiutils-logs hash-secret`"
            )
        digest = secret
    else:
        digest = "sha256$" + hashlib.sha256(secret.encode("utf-8")).hexdigest()
    return _Credential(Principal(name, roles), digest)


class Authenticator:
    """Checks the credentials of a request against the configured ones."""

    def __init__(self, tokens: tuple[str, ...] | list[str] = (), credentials_file: str = "") -> None:
        credentials = [
            _parse_entry(entry, False, "C2C_COLLECTOR_TOKENS") for entry in tokens if entry.strip()
        ]
        if credentials_file:
            path = Path(credentials_file)
            try:
                lines = path.read_text(encoding="utf-8").splitlines()
            except OSError as exc:
                raise ValueError(
                    f"C2C_COLLECTOR_CREDENTIALS_FILE: cannot read {path}: {exc.strerror}"
                ) from None
            for number, line in enumerate(lines, 1):
                if line.strip() and not line.lstrip().startswith("#"):
                    credentials.append(_parse_entry(line, True, f"{path}:{number}"))
        self._credentials = credentials
        # Verified secrets, keyed by their SHA-256, so PBKDF2 runs once per secret and process.
        self._verified: dict[tuple[str, bytes], Principal | None] = {}
        # The caller of an Authorization header, keyed by the header's SHA-256: a client sends the
        # same header on every request, and the header decides the caller (see _authorization).
        self._by_authorization: dict[bytes, Principal | None] = {}
        self._lock = threading.Lock()

    @property
    def configured(self) -> bool:
        """Whether any credential is configured (else every request is allowed)."""
        return bool(self._credentials)

    def _lookup(self, name: str | None, secret: str) -> Principal | None:
        key = (name or "", hashlib.sha256(secret.encode("utf-8", "replace")).digest())
        try:
            return self._verified[key]
        except KeyError:
            pass
        found: Principal | None = None
        for credential in self._credentials:
            if name is not None and credential.principal.name != name:
                continue
            if _verify(secret, credential.digest):
                found = credential.principal
                break
        with self._lock:
            if len(self._verified) >= _CACHE_SIZE:
                self._verified.clear()
            self._verified[key] = found
        return found

    def authenticate(self, headers: dict[str, str] | object) -> Principal | None:
        """The caller of a request with these headers, or ``None`` when it sent no valid credential."""
        get = getattr(headers, "get")  # noqa: B009 - a WebOb EnvironHeaders or a dict
        return self.caller(get("X-API-Key"), get("Authorization"))

    def caller(self, api_key: str | None, authorization: str | None) -> Principal | None:
        """The caller of a request with these ``X-API-Key`` and ``Authorization`` headers (``None``
        when absent), or ``None`` when it sent no valid credential."""
        if api_key:
            return self._lookup(None, api_key)
        if not authorization:
            return None
        # "surrogatepass": one byte string per header string, so one header per key.
        key = hashlib.sha256(authorization.encode("utf-8", "surrogatepass")).digest()
        try:
            return self._by_authorization[key]
        except KeyError:
            pass
        found = self._authorization(authorization)
        with self._lock:
            if len(self._by_authorization) >= _CACHE_SIZE:
                self._by_authorization.clear()
            self._by_authorization[key] = found
        return found

    def _authorization(self, authorization: str) -> Principal | None:
        scheme, _, value = authorization.partition(" ")
        scheme = scheme.lower()
        if scheme == "bearer" and value.strip():
            return self._lookup(None, value.strip())
        if scheme == "basic" and value.strip():
            try:
                decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
            except ValueError:  # binascii.Error, UnicodeDecodeError, a non-ASCII header
                return None
            user, separator, password = decoded.partition(":")
            if not separator:
                return None
            return self._lookup(user, password)
        return None

    def require(self, headers: object, role: str) -> Principal | None:
        """The caller, when it holds ``role``; raises AuthError 401/403. ``None`` when auth is off."""
        if not self._credentials:
            return None
        get = getattr(headers, "get")  # noqa: B009 - a WebOb EnvironHeaders or a dict
        return self.require_caller(get("X-API-Key"), get("Authorization"), role)

    def require_caller(self, api_key: str | None, authorization: str | None, role: str) -> Principal | None:
        """:meth:`require` with the values of the ``X-API-Key`` and ``Authorization`` headers."""
        if not self._credentials:
            return None
        principal = self.caller(api_key, authorization)
        if principal is None:
            raise AuthError(401, "Missing or invalid credentials (Bearer token, X-API-Key or HTTP Basic)")
        if not principal.has(role):
            raise AuthError(403, f"{principal.name!r} lacks the {role!r} role")
        return principal


def check_listen_address(host: str, authenticator: Authenticator) -> None:
    """Raise ValueError when listening on ``host`` would expose a collector without credentials."""
    if host.strip().lower() not in LOOPBACK_HOSTS and not authenticator.configured:
        raise ValueError(
            f"Refusing to listen on {host!r} without credentials: anyone could read and write the logs. "
            "Set C2C_COLLECTOR_TOKENS (name:roles:secret) or C2C_COLLECTOR_CREDENTIALS_FILE, "
            "or listen on 127.0.0.1."
        )
