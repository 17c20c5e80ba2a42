"""Internal. The one guard around the code we run inside the application's own calls.

The patched HTTP clients (:mod:`c2cwsgiutils.outgoing`), the SQL dialect hooks
(:mod:`c2cwsgiutils.sql.hooks`: tagging, sqlcommenter comment, profiler, SQL spans) and the web
span run our code in the middle of the application's request or statement. A bug there must
never break that call: each hook runs its own part in ``try: ... except Exception:
internal_error("where")`` and the application's call goes on, as sentry-python's
``capture_internal_exceptions`` does. (``try`` costs nothing on Python 3.11+ while nothing is
raised, a ``with`` block would cost a call on every request and statement.)

:func:`internal_error` logs the exception, with its traceback, on the hook's logger: the first
one of each place, then at most one per :data:`INTERVAL` seconds and place, saying how many were
not logged in between. A bug hit on every statement gives one line, not one per statement.
"""

from __future__ import annotations

import logging
import threading
import time

__all__ = ["INTERVAL", "internal_error"]

LOG = logging.getLogger("c2cwsgiutils")

INTERVAL = 600.0
"""Seconds between two logs of the internal errors of one place."""

# place -> [monotonic time of its last log, errors since then not logged]
_places: dict[str, list[float]] = {}
_lock = threading.Lock()


def internal_error(where: str, logger: logging.Logger = LOG) -> None:
    """Log the exception being handled on ``logger``: a bug of ours while ``where`` (rate-limited
    per place). Call it from an ``except Exception:`` block; it never raises."""
    try:
        now = time.monotonic()
        with _lock:
            place = _places.get(where)
            if place is not None and now - place[0] < INTERVAL:
                place[1] += 1
                return
            skipped = int(place[1]) if place is not None else 0
            _places[where] = [now, 0]
        more = f" ({skipped} more since the last report)" if skipped else ""
        logger.error(
            "Internal error of c2cwsgiutils while %s%s; the application's call goes on",
            where,
            more,
            exc_info=True,
        )
    except Exception:  # noqa: S110 - logging itself failed: nothing more we can do
        pass


def reset() -> None:
    """Forget what was logged (for tests)."""
    with _lock:
        _places.clear()
