"""Relative times of the command line (``15m``, ``1h``, ``7d``) as the collector API takes them."""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone

__all__ = ["relative_time"]

_RELATIVE = re.compile(r"(\d+(?:\.\d+)?)\s*(s|m|min|h|d|w)\Z", re.IGNORECASE)
_UNITS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}


def relative_time(value: str, now: float | None = None) -> str:
    """``value`` as the API takes it: ``15m``/``1h``/``7d`` become an ISO time that long ago."""
    match = _RELATIVE.match(value.strip())
    if not match:
        return value
    seconds = float(match.group(1)) * _UNITS[match.group(2).lower()]
    moment = datetime.fromtimestamp(time.time() if now is None else now, timezone.utc)
    return (moment - timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")
