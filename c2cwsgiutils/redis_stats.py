"""6.x's ``c2cwsgiutils.redis_stats`` (Redis call timers): gone, see MIGRATION.md; kept as no-ops."""

from __future__ import annotations

from typing import Any

from c2cwsgiutils._deprecated import warn


def includeme(config: Any = None) -> None:
    """No-op with a warning: c2cwsgiutils 7 does not time Redis calls."""
    warn(f"{__name__}.includeme", "nothing (Redis calls are not timed by c2cwsgiutils 7)")


def init(config: Any = None) -> None:
    """No-op with a warning: c2cwsgiutils 7 does not time Redis calls."""
    warn(f"{__name__}.init", "nothing (Redis calls are not timed by c2cwsgiutils 7)")
