"""In-memory metrics of this process, served as JSON at ``{C2C_BASE_PATH}/stats.json``.

Each process keeps its own figures (there is no aggregation across gunicorn workers: use statsd or
Prometheus for that). Timers keep count, total, min and max; the view adds the average.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import Any

from c2cwsgiutils.stats import Key, Tags, TimingItem

__all__ = ["MemoryBackend", "format_key", "memory_backend"]


def format_key(key: Key, tags: Tags) -> str:
    """The flat name of a metric: the key parts then the tag values, joined with dots."""
    if tags:
        return ".".join((*key, *tags.values()))
    return ".".join(key)


class MemoryBackend:
    """Counts, totals, min and max per metric, kept in this process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # name -> [count, total seconds, min seconds, max seconds]
        self._timers: dict[str, list[float]] = {}
        self._counters: dict[str, int] = {}
        self._gauges: dict[str, float] = {}

    def __repr__(self) -> str:
        return "MemoryBackend()"

    def timing(self, key: Key, seconds: float, tags: Tags) -> None:
        name = format_key(key, tags)
        with self._lock:
            record = self._timers.get(name)
            if record is None:
                self._timers[name] = [1, seconds, seconds, seconds]
            else:
                record[0] += 1
                record[1] += seconds
                record[2] = min(record[2], seconds)
                record[3] = max(record[3], seconds)

    def timings(self, items: Sequence[TimingItem]) -> None:
        for key, seconds, tags in items:
            self.timing(key, seconds, tags)

    def counter(self, key: Key, increment: int, tags: Tags) -> None:
        name = format_key(key, tags)
        with self._lock:
            self._counters[name] = self._counters.get(name, 0) + increment

    def gauge(self, key: Key, value: float, tags: Tags) -> None:
        name = format_key(key, tags)
        with self._lock:
            self._gauges[name] = value

    def close(self) -> None:
        pass

    def reset(self) -> None:
        """Forget every figure."""
        with self._lock:
            self._timers.clear()
            self._counters.clear()
            self._gauges.clear()

    def snapshot(self) -> dict[str, Any]:
        """The figures as JSON-able data; durations in milliseconds."""
        with self._lock:
            timers = {name: list(record) for name, record in self._timers.items()}
            counters = dict(self._counters)
            gauges = dict(self._gauges)
        return {
            "pid": os.getpid(),
            "timers": {
                name: {
                    "count": int(count),
                    "total_ms": total * 1000,
                    "avg_ms": total * 1000 / count,
                    "min_ms": low * 1000,
                    "max_ms": high * 1000,
                }
                for name, (count, total, low, high) in sorted(timers.items())
            },
            "counters": dict(sorted(counters.items())),
            "gauges": dict(sorted(gauges.items())),
        }


def memory_backend() -> MemoryBackend | None:
    """The active in-memory backend, if any."""
    from c2cwsgiutils import stats

    for backend in stats.backends():
        if isinstance(backend, MemoryBackend):
            return backend
    return None


def stats_view(request: Any) -> dict[str, Any]:
    """``{C2C_BASE_PATH}/stats.json``: this process's figures; ``?reset=1`` clears them after reading."""
    backend = memory_backend()
    if backend is None:
        from pyramid.httpexceptions import HTTPNotFound

        raise HTTPNotFound("The in-memory metrics backend is not enabled (STATS_VIEW)")
    result = backend.snapshot()
    if request.params.get("reset") in ("1", "true"):
        backend.reset()
    return result
