"""Metrics: timers, counters and gauges sent to any combination of backends.

A metric is named by a *key*, a sequence of name parts (``["route", "GET", "hello", "200"]``), and
optional *tags* (a mapping of label names to values). Backends that know tags (Prometheus, statsd
with a tag style) use them as labels; the others (the in-memory view, plain statsd) append the tag
values to the name, in the order given.

Usage::

    from c2cwsgiutils import stats

    with stats.timer_context(["geocoding", "lookup"]):
        lookup()

    @stats.timer(["geocoding", "import"])
    def import_all() -> None: ...

    stats.increment_counter(["geocoding", "cache_miss"])
    stats.set_gauge(["queue", "length"], 12, tags={"queue": "emails"})

Backends are chosen from the settings by :func:`setup` (called by the Pyramid include): the
in-memory one with ``STATS_VIEW``, statsd with ``STATSD_ADDRESS``, Prometheus with
``C2C_PROMETHEUS``. Recording a metric never raises: a failing backend logs and goes on.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar, overload

from c2cwsgiutils.stats._settings import StatsSettings

__all__ = [
    "Backend",
    "Key",
    "StatsSettings",
    "Tags",
    "Timer",
    "add_backend",
    "add_timing",
    "backends",
    "includeme",
    "increment_counter",
    "set_gauge",
    "setup",
    "shutdown",
    "timer",
    "timer_context",
]

LOG = logging.getLogger(__name__)

Key = Sequence[str]
"""A metric name as a sequence of parts, e.g. ``["route", "GET", "hello", "200"]``."""
Tags = Mapping[str, str] | None
"""Optional labels of a metric (``{"queue": "emails"}``)."""
TimingItem = tuple[Key, float, Tags]

F = TypeVar("F", bound=Callable[..., Any])


class Backend(Protocol):
    """What a metrics backend implements; values are already validated, keys are non-empty."""

    def timing(self, key: Key, seconds: float, tags: Tags) -> None:
        """Record one duration, in seconds (wall-clock)."""

    def timings(self, items: Sequence[TimingItem]) -> None:
        """Record several durations at once (one packet for statsd)."""

    def counter(self, key: Key, increment: int, tags: Tags) -> None:
        """Add ``increment`` to a counter."""

    def gauge(self, key: Key, value: float, tags: Tags) -> None:
        """Set a gauge."""

    def close(self) -> None:
        """Release sockets and threads."""


# An immutable tuple swapped as a whole, so the hot path reads it without a lock.
_backends: tuple[Backend, ...] = ()
_lock = threading.Lock()
_failure_logged: set[int] = set()


def _failed(backend: Backend) -> None:
    # One stack trace per backend, then silence: metrics must never flood the logs or break a request.
    if id(backend) not in _failure_logged:
        _failure_logged.add(id(backend))
        LOG.warning("Metrics backend %s failed; further errors are not logged", backend, exc_info=True)


def backends() -> tuple[Backend, ...]:
    """The active backends."""
    return _backends


def add_backend(backend: Backend) -> None:
    """Add a backend of your own (any object implementing :class:`Backend`)."""
    global _backends
    with _lock:
        _backends = (*_backends, backend)


def shutdown() -> None:
    """Close and remove every backend (tests, process exit)."""
    global _backends
    with _lock:
        old, _backends = _backends, ()
    for backend in old:
        try:
            backend.close()
        except Exception:
            LOG.warning("Could not close metrics backend %s", backend, exc_info=True)


def setup(settings: Mapping[str, Any] | None = None) -> StatsSettings:
    """Replace the backends by those the settings enable; returns the parsed settings.

    Call it from scripts (e.g. a cron job sending gauges); the Pyramid include calls it for you.
    Raises :class:`c2cwsgiutils.ConfigError` on an invalid setting.
    """
    parsed = StatsSettings.from_settings(settings or {})
    new: list[Backend] = []
    if parsed.memory:
        from c2cwsgiutils.stats.memory import MemoryBackend

        new.append(MemoryBackend())
    if parsed.statsd_address:
        from c2cwsgiutils.stats.statsd import StatsdBackend

        new.append(StatsdBackend(parsed.statsd_address, parsed.statsd_prefix, parsed.statsd_tag_style))
    if parsed.prometheus:
        try:
            from c2cwsgiutils.stats.prometheus import PrometheusBackend
        except ImportError:
            LOG.warning("Prometheus metrics disabled: the 'prometheus_client' package is not installed")
        else:
            new.append(PrometheusBackend(parsed.prometheus_prefix, parsed.prometheus_multiproc_dir))
    shutdown()
    for backend in new:
        add_backend(backend)
    return parsed


def _parts(key: Key | str) -> Key:
    """A key as its parts: a plain string is one part (``"toto"``, not ``t.o.t.o``)."""
    return (key,) if isinstance(key, str) else key


def add_timing(key: Key | str, seconds: float, tags: Tags = None) -> None:
    """Record a duration of ``seconds`` under ``key`` in every backend."""
    key = _parts(key)
    for backend in _backends:
        try:
            backend.timing(key, seconds, tags)
        except Exception:
            _failed(backend)


def add_timings(items: Sequence[TimingItem]) -> None:
    """Record several ``(key, seconds, tags)`` durations at once (statsd sends one packet)."""
    if any(isinstance(key, str) for key, _seconds, _tags in items):
        items = [(_parts(key), seconds, tags) for key, seconds, tags in items]
    for backend in _backends:
        try:
            backend.timings(items)
        except Exception:
            _failed(backend)


def increment_counter(key: Key | str, inc: int = 1, tags: Tags = None) -> None:
    """Add ``inc`` to the counter ``key`` in every backend."""
    key = _parts(key)
    for backend in _backends:
        try:
            backend.counter(key, inc, tags)
        except Exception:
            _failed(backend)


def set_gauge(key: Key | str, value: float, tags: Tags = None) -> None:
    """Set the gauge ``key`` to ``value`` in every backend."""
    key = _parts(key)
    for backend in _backends:
        try:
            backend.gauge(key, value, tags)
        except Exception:
            _failed(backend)


@contextmanager
def timer_context(key: Key | str, tags: Tags | str = None, *more: str) -> Iterator[None]:
    """Measure the wall-clock time of the block (also when it raises) and record it under ``key``.

    The key may also be given as separate strings: ``timer_context("geocoding", "lookup")`` is
    ``timer_context(["geocoding", "lookup"])`` (the older README's spelling); a single string is one
    name part, never split into characters.
    """
    if isinstance(tags, str):
        if not isinstance(key, str):
            raise TypeError("timer_context(key, tags): tags are a mapping; key parts go in the key")
        key, tags, more = (key, tags, *more), None, ()
    elif isinstance(key, str):
        key = (key, *more)
    elif more:
        raise TypeError("timer_context(key, tags): key parts go in the key")
    start = time.perf_counter()
    try:
        yield
    finally:
        add_timing(key, time.perf_counter() - start, tags)


class Timer:
    """A started measure: :meth:`stop` records it; also usable as a decorator.

    ``timer(key)`` starts one; ``@timer(key)`` (or bare ``@timer``, keyed by the function's module
    and qualified name) measures every call of the decorated function.
    """

    __slots__ = ("_key", "_start", "_tags")

    def __init__(self, key: Key | None = None, tags: Tags = None) -> None:
        self._key = key
        self._tags = tags
        self._start = time.perf_counter()

    def stop(self, key: Key | None = None, tags: Tags = None) -> float:
        """Record the time since creation (under ``key`` or the key given at creation); returns seconds."""
        elapsed = time.perf_counter() - self._start
        final = key if key is not None else self._key
        if final is None:
            raise ValueError("Timer.stop() needs a key when the timer was created without one")
        add_timing(final, elapsed, tags if tags is not None else self._tags)
        return elapsed

    def __call__(self, func: F) -> F:
        key = self._key if self._key is not None else (func.__module__, func.__qualname__)
        tags = self._tags

        @functools.wraps(func)
        def measured(*args: Any, **kwargs: Any) -> Any:
            with timer_context(key, tags):
                return func(*args, **kwargs)

        return measured  # type: ignore[return-value]


@overload
def timer(key: F) -> F: ...


@overload
def timer(key: Key | None = None, tags: Tags = None) -> Timer: ...


def timer(key: Any = None, tags: Tags = None) -> Any:
    """Start a :class:`Timer`, or decorate a function (``@timer``, ``@timer(["a", "b"])``)."""
    if callable(key):
        return Timer()(key)
    return Timer(key, tags)


def includeme(config: Any) -> None:
    """Pyramid include: backends from the settings, route/render timers, views, SQL timers."""
    from c2cwsgiutils.stats import pyramid as stats_pyramid

    stats_pyramid.includeme(config)
