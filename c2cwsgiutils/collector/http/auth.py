"""Who may call the collector: roles ``writer`` (POST), ``reader`` (GET/HEAD) and ``admin`` (all).

Chronologer's read roles too (issue #24): ``basic-reader`` reads without ``query=`` (a request
with a ``query`` is refused, 403), ``query-reader`` adds ``query=`` to it; both together are
``reader``.

Credentials are ``name:roles:secret`` entries: from ``C2C_COLLECTOR_TOKENS`` (plain secrets, e.g.
from a secret store) or from ``C2C_COLLECTOR_CREDENTIALS_FILE`` (``name:roles:hash`` lines, hashes
made by ``c2cwsgiutils-logs hash-secret``). A secret is accepted as an API token
(``Authorization: Bearer``, ``X-API-Key``) or as the HTTP Basic password of user ``name`` (what
``logging.handlers.HTTPHandler(credentials=(name, secret))`` sends), and as a token that names its
credential, ``name:secret``. Without any credential the collector is open, which
``c2cwsgiutils-logs serve`` only allows on a loopback address.

A check costs the same small amount whether the secret is right or wrong (issue #18): plain and
``sha256$`` credentials are found by one SHA-256 and a dictionary lookup, whatever their number.
PBKDF2 runs only for a ``pbkdf2_sha256$`` credential, once per (name, secret) and process: for
the credential a request names (HTTP Basic user, ``name:secret`` token), or, for a bare token
that matches no fast credential, against each PBKDF2 credential, which is what an attacker with
random tokens would make the collector do. So those bare-token checks are rate-limited per client
address (:class:`FailureLimiter`: past ``MAX_FAILURES`` failures in ``FAILURE_WINDOW`` seconds,
a 429 with ``Retry-After`` and no hashing) and run one at a time in a process.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from c2cwsgiutils.collector.http.chronologer_authfile import (
    PBKDF2_HASHES,
    ROLE_NAMES,
    credential_lines,
    is_chronologer_authfile,
)

__all__ = [
    "LOOPBACK_HOSTS",
    "ROLES",
    "AuthError",
    "Authenticator",
    "Principal",
    "check_listen_address",
    "hash_secret",
]

ROLES = frozenset(("writer", "reader", "admin", "basic-reader", "query-reader"))
# The role of a read without ``query=`` (``reader`` and ``admin`` hold it too).
BASIC_READER = "basic-reader"
LOOPBACK_HOSTS = frozenset(("127.0.0.1", "localhost", "::1", "[::1]", "ip6-localhost"))
PBKDF2_ITERATIONS = 200_000
MAX_FAILURES = 10
FAILURE_WINDOW = 60.0
_CACHE_SIZE = 1024


class AuthError(Exception):
    """401 (no or unknown credentials), 403 (the role is missing) or 429 (too many failures from
    this address: ``retry_after`` seconds)."""

    def __init__(self, status: int, message: str, retry_after: int = 0) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class FailureLimiter:
    """Failed credential checks per client address: at most ``limit`` in ``window`` seconds."""

    def __init__(self, limit: int = MAX_FAILURES, window: float = FAILURE_WINDOW, size: int = 4096) -> None:
        self._limit = limit
        self._window = window
        self._size = size
        self._failures: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, client: str) -> int:
        """0 when ``client`` may try again now, else in how many seconds."""
        with self._lock:
            times = self._failures.get(client)
            if times is None or len(times) < self._limit:
                return 0
            wait = times[0] + self._window - time.monotonic()
            if wait <= 0:
                del self._failures[client]
                return 0
            return int(wait) + 1

    def failed(self, client: str) -> None:
        """Count one failure of ``client``."""
        now = time.monotonic()
        with self._lock:
            times = [t for t in self._failures.get(client, ()) if t > now - self._window]
            times.append(now)
            if len(self._failures) >= self._size and client not in self._failures:
                self._failures.clear()  # many addresses: start over rather than grow
            self._failures[client] = times[-self._limit :]


@dataclass(frozen=True)
class Principal:
    """An authenticated caller."""

    name: str
    roles: frozenset[str]

    def has(self, role: str) -> bool:
        """Whether the caller holds ``role`` (``admin`` holds every role; ``reader`` is
        ``basic-reader`` and ``query-reader`` together, and holds ``basic-reader``)."""
        roles = self.roles
        if role in roles or "admin" in roles:
            return True
        if role == "reader":
            return "basic-reader" in roles and "query-reader" in roles
        return role == BASIC_READER and "reader" in roles


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
    if parts[0] in PBKDF2_HASHES and len(parts) == 4:  # ours (sha256) or Chronologer's authfile
        iterations, salt, expected = int(parts[1]), parts[2], parts[3]
        computed = hashlib.pbkdf2_hmac(
            PBKDF2_HASHES[parts[0]], secret.encode("utf-8"), salt.encode("utf-8"), iterations
        ).hex()
        return hmac.compare_digest(computed, expected)
    return False


def _parse_entry(entry: str, hashed: bool, origin: str) -> _Credential:
    parts = entry.strip().split(":", 2)
    if len(parts) != 3 or not parts[0] or not parts[2]:
        raise ValueError(f"{origin}: an entry must look like name:roles:{'hash' if hashed else 'secret'}")
    name, roles_text, secret = parts
    # Chronologer's role names (basic-reader, query-reader) are ours too, for migrations.
    roles = frozenset(
        ROLE_NAMES.get(role.strip(), role.strip()) for role in roles_text.split("+") if role.strip()
    )
    # No role at all (``name::secret``) is a known caller who may do nothing: 403, not 401, as a
    # Chronologer user without roles.
    if not roles <= ROLES:
        raise ValueError(f"{origin}: roles of {name!r} must be among {'+'.join(sorted(ROLES))}")
    if hashed:
        if not (secret.startswith("sha256$") or secret.partition("$")[0] in PBKDF2_HASHES):
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
            if is_chronologer_authfile("\n".join(lines)):
                lines = credential_lines("\n".join(lines), str(path))
            for number, line in enumerate(lines, 1):
                if line.strip() and not line.lstrip().startswith("#"):
                    credentials.append(_parse_entry(line, True, f"{path}:{number}"))
        self._credentials = credentials
        # Fast credentials (plain tokens, "sha256$"), by the SHA-256 of their secret.
        self._fast: dict[bytes, _Credential] = {}
        self._by_name: dict[str, list[_Credential]] = {}
        self._slow: list[_Credential] = []
        for credential in credentials:
            self._by_name.setdefault(credential.principal.name, []).append(credential)
            kind, _, digest = credential.digest.partition("$")
            if kind == "sha256":
                self._fast.setdefault(bytes.fromhex(digest), credential)
            else:
                self._slow.append(credential)
        # Verified PBKDF2 secrets, keyed by name and SHA-256, so PBKDF2 runs once per secret and process.
        self._verified: dict[tuple[str, bytes], Principal | None] = {}
        # The caller of an Authorization header, keyed by the header's SHA-256: a client sends the
        # same header on every request, and the header decides the caller (see _authorization).
        # Only successes: random wrong headers cannot evict the entries of real clients.
        self._by_authorization: dict[bytes, Principal] = {}
        self._lock = threading.Lock()
        self._slow_lock = threading.Lock()  # one PBKDF2 at a time per process
        self.failures = FailureLimiter()

    @property
    def configured(self) -> bool:
        """Whether any credential is configured (else every request is allowed)."""
        return bool(self._credentials)

    def _slow_verify(
        self, name: str, secret: str, digest: bytes, candidates: list[_Credential], client: str
    ) -> Principal | None:
        """The principal of the PBKDF2 credential among ``candidates`` that ``secret`` matches.

        A bare token (``name`` empty) does not wait for another check to end: a crowd of random
        tokens gets 429s instead of queueing on PBKDF2 in every server thread.
        """
        key = (name, digest)
        try:
            return self._verified[key]
        except KeyError:
            pass
        wait = self.failures.retry_after(client)
        if wait:
            raise AuthError(429, f"Too many failed credential checks; retry in {wait} s", wait)
        if not self._slow_lock.acquire(blocking=bool(name)):
            raise AuthError(429, "Busy checking other credentials; retry in 1 s (or name the credential)", 1)
        found: Principal | None = None
        try:
            for credential in candidates:
                if _verify(secret, credential.digest):
                    found = credential.principal
                    break
        finally:
            self._slow_lock.release()
        if found is None:
            self.failures.failed(client)
        with self._lock:
            if len(self._verified) >= _CACHE_SIZE:
                self._verified.clear()
            self._verified[key] = found
        return found

    def _lookup(self, name: str | None, secret: str, client: str) -> Principal | None:
        digest = hashlib.sha256(secret.encode("utf-8", "replace")).digest()
        if name is None:
            fast = self._fast.get(digest)
            if fast is not None:
                return fast.principal
            named, separator, named_secret = secret.partition(":")
            if separator and named in self._by_name:  # a token naming its credential
                return self._lookup(named, named_secret, client)
            return self._slow_verify("", secret, digest, self._slow, client) if self._slow else None
        candidates = self._by_name.get(name, [])
        hexdigest = "sha256$" + digest.hex()
        for credential in candidates:
            if hmac.compare_digest(credential.digest, hexdigest):
                return credential.principal
        slow = [c for c in candidates if not c.digest.startswith("sha256$")]
        return self._slow_verify(name, secret, digest, slow, client) if slow else None

    def authenticate(self, headers: dict[str, str] | object) -> Principal | None:
        """The caller of a request with these headers, or ``None`` when it sent no valid credential."""
        get = getattr(headers, "get")  # noqa: B009 - a WebOb EnvironHeaders or a dict
        return self.caller(get("X-API-Key"), get("Authorization"), _client(headers))

    def caller(self, api_key: str | None, authorization: str | None, client: str = "") -> Principal | None:
        """The caller of a request with these ``X-API-Key`` and ``Authorization`` headers (``None``
        when absent), or ``None`` when it sent no valid credential; ``client``: its address.
        Raises AuthError 429 when that address failed too often."""
        if api_key:
            return self._lookup(None, api_key, client)
        if not authorization:
            return None
        # "surrogatepass": one byte string per header string, so one header per key.
        key = hashlib.sha256(authorization.encode("utf-8", "surrogatepass")).digest()
        try:
            return self._by_authorization[key]
        except KeyError:
            pass
        found = self._authorization(authorization, client)
        if found is not None:
            with self._lock:
                if len(self._by_authorization) >= _CACHE_SIZE:
                    self._by_authorization.clear()
                self._by_authorization[key] = found
        return found

    def _authorization(self, authorization: str, client: str) -> Principal | None:
        scheme, _, value = authorization.partition(" ")
        scheme = scheme.lower()
        if scheme == "bearer" and value.strip():
            return self._lookup(None, value.strip(), client)
        if scheme == "basic" and value.strip():
            try:
                decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
            except ValueError:  # binascii.Error, UnicodeDecodeError, a non-ASCII header
                return None
            user, separator, password = decoded.partition(":")
            if not separator:
                return None
            return self._lookup(user, password, client)
        return None

    def require(self, headers: object, role: str) -> Principal | None:
        """The caller, when it holds ``role``; raises AuthError 401/403. ``None`` when auth is off."""
        if not self._credentials:
            return None
        get = getattr(headers, "get")  # noqa: B009 - a WebOb EnvironHeaders or a dict
        return self.require_caller(get("X-API-Key"), get("Authorization"), role, _client(headers))

    def require_caller(
        self, api_key: str | None, authorization: str | None, role: str, client: str = ""
    ) -> Principal | None:
        """:meth:`require` with the values of the ``X-API-Key`` and ``Authorization`` headers."""
        if not self._credentials:
            return None
        principal = self.caller(api_key, authorization, client)
        if principal is None:
            raise AuthError(401, "Missing or invalid credentials (Bearer token, X-API-Key or HTTP Basic)")
        if not principal.has(role):
            raise AuthError(403, f"{principal.name!r} lacks the {role!r} role")
        return principal


def _client(headers: object) -> str:
    """The client address of a request, from its WebOb headers (a plain dict has none)."""
    environ = getattr(headers, "environ", None)
    return str(environ.get("REMOTE_ADDR", "")) if isinstance(environ, dict) else ""


def check_listen_address(host: str, authenticator: Authenticator) -> None:
    """Raise ValueError when listening on ``host`` would expose a collector without credentials."""
    if host.strip().lower() not in LOOPBACK_HOSTS and not authenticator.configured:
        raise ValueError(
            f"Refusing to listen on {host!r} without credentials: anyone could read and write the logs. "
            "Set C2C_COLLECTOR_TOKENS (name:roles:secret) or C2C_COLLECTOR_CREDENTIALS_FILE, "
            "or listen on 127.0.0.1."
        )
