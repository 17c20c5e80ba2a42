"""Group bucket counts into local minutes, hours or days of a time zone (DST-aware).

The database groups by fixed UTC buckets (60 s for minutes, 900 s otherwise: every time zone's
hour starts on a quarter hour of UTC); this module merges them into the local periods.
"""

from __future__ import annotations

import functools
import zoneinfo
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["GROUPS", "bucket_seconds", "group_buckets", "zone"]

GROUPS = ("minute", "hour", "day")


def zone(name: str) -> ZoneInfo:
    """The time zone named ``name`` (IANA name, e.g. ``Europe/Zurich``); raises ValueError."""
    if not name or len(name) > 64 or "\x00" in name or name.startswith(("/", ".")) or ".." in name:
        raise ValueError(f"unknown time zone {name[:64]!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        pass
    # Chronologer takes time zone names in any case (europe/amsterdam): so do we.
    canonical = _zone_names_by_lower_case().get(name.lower())
    if canonical is None:
        raise ValueError(f"unknown time zone {name[:64]!r}")
    return ZoneInfo(canonical)


@functools.cache
def _zone_names_by_lower_case() -> dict[str, str]:
    return {zone_name.lower(): zone_name for zone_name in zoneinfo.available_timezones()}


def bucket_seconds(group: str) -> int:
    """Size of the UTC buckets the database groups by for ``group``."""
    if group not in GROUPS:
        raise ValueError(f"group must be one of {', '.join(GROUPS)}")
    return 60 if group == "minute" else 900


def group_buckets(buckets: list[tuple[int, int]], group: str, tz: ZoneInfo) -> list[tuple[int, int]]:
    """(start of the local period in POSIX seconds, count), oldest first."""
    if group == "minute":
        return buckets
    merged: dict[int, int] = {}
    for start, count in buckets:
        local = datetime.fromtimestamp(start, tz)
        if group == "hour":
            local = local.replace(minute=0, second=0, microsecond=0)
        else:
            local = local.replace(hour=0, minute=0, second=0, microsecond=0)
        key = int(local.timestamp())
        merged[key] = merged.get(key, 0) + count
    return sorted(merged.items())
