"""Read Chronologer's authfile (``CHRONOLOGER_AUTHFILE``) as collector credentials (issue #24).

Chronologer's authfile is a JSON list of ``{"username", "pbkdf2", "hashname", "salt",
"iterations", "roles"}``: PBKDF2 of the password with that hash, salt (text) and iteration count,
in hex. Users cannot re-hash passwords they do not know, so ``C2C_COLLECTOR_CREDENTIALS_FILE``
accepts that file as it is: each entry becomes a ``name:roles:pbkdf2_<hash>$iterations$salt$hex``
credential with its roles, which are ours too (``basic-reader``: reads without ``query=``,
``query-reader``: ``query=`` as well, ``writer``: ``writer``).
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["PBKDF2_HASHES", "ROLE_NAMES", "credential_lines", "is_chronologer_authfile"]

# The hash names Chronologer's authfiles use that hashlib's pbkdf2_hmac computes everywhere.
PBKDF2_HASHES = {f"pbkdf2_{name}": name for name in ("sha1", "sha224", "sha256", "sha384", "sha512")}
ROLE_NAMES = {"basic-reader": "basic-reader", "query-reader": "query-reader", "writer": "writer"}


def is_chronologer_authfile(text: str) -> bool:
    """Whether the credentials file ``text`` is Chronologer's JSON list rather than our lines."""
    return text.lstrip().startswith("[")


def _entry_line(entry: Any, origin: str) -> str:
    if not isinstance(entry, dict):
        raise ValueError(f"{origin}: each entry must be an object")
    try:
        name, hexdigest, hash_name = str(entry["username"]), str(entry["pbkdf2"]), str(entry["hashname"])
        salt, iterations, roles = str(entry["salt"]), int(entry["iterations"]), entry["roles"]
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(
            f"{origin}: an entry needs username, pbkdf2, hashname, salt, iterations, roles ({exc})"
        ) from None
    if f"pbkdf2_{hash_name}" not in PBKDF2_HASHES:
        raise ValueError(f"{origin}: hashname of {name!r} must be among {', '.join(sorted(PBKDF2_HASHES))}")
    if any(":" in text or "$" in text for text in (name, salt)) or not isinstance(roles, list):
        raise ValueError(
            f"{origin}: {name!r}: username and salt must not contain ':' or '$', roles is a list"
        )
    unknown = sorted(str(role) for role in roles if role not in ROLE_NAMES)
    if unknown:
        raise ValueError(
            f"{origin}: roles of {name!r} must be among {', '.join(sorted(ROLE_NAMES))}: {unknown}"
        )
    ours = "+".join(sorted({ROLE_NAMES[role] for role in roles}))
    return f"{name}:{ours}:pbkdf2_{hash_name}${iterations}${salt}${hexdigest}"


def credential_lines(text: str, origin: str) -> list[str]:
    """The ``name:roles:hash`` lines of Chronologer's authfile ``text``; raises ValueError."""
    try:
        entries = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"{origin}: not a JSON list of Chronologer's authfile ({exc})") from None
    if not isinstance(entries, list):
        raise ValueError(f"{origin}: Chronologer's authfile is a JSON list")
    return [_entry_line(entry, f"{origin}: entry {index}") for index, entry in enumerate(entries, 1)]
