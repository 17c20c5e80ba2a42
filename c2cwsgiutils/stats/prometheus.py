"""Prometheus backend (``prometheus_client``), correct under gunicorn with several workers.

Mapping: a timer is a histogram ``{prefix}{key}_seconds``, a counter ``{prefix}{key}_total``, a
gauge ``{prefix}{key}``; the key parts are joined with ``_`` and tags become labels.

With several worker processes, set ``C2C_PROMETHEUS_MULTIPROC_DIR`` (or ``PROMETHEUS_MULTIPROC_DIR``)
to an empty directory shared by the workers: every process writes its values there and any worker
answering ``/metrics`` reads them all. In ``gunicorn.conf.py``::

    from c2cwsgiutils.stats.prometheus import child_exit, on_starting  # noqa: F401

``on_starting`` empties the directory when gunicorn starts; ``child_exit`` removes the live gauges
of a worker that died (its counters stay: totals must not go down).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import prometheus_client
from prometheus_client import values
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from c2cwsgiutils.stats import Key, Tags, TimingItem

__all__ = [
    "PrometheusBackend",
    "child_exit",
    "collect",
    "metric_name",
    "metrics_view",
    "multiproc_dir",
    "on_starting",
    "start_metrics_server",
]

LOG = logging.getLogger(__name__)

_INVALID = re.compile(r"[^a-zA-Z0-9_]")


def metric_name(prefix: str, key: Key) -> str:
    """A valid Prometheus name for ``key`` (invalid characters become ``_``)."""
    name = _INVALID.sub("_", prefix + "_".join(key))
    return "_" + name if not name or name[0].isdigit() else name


def _label(name: str) -> str:
    label = _INVALID.sub("_", name)
    if not label or label[0].isdigit() or label.startswith("__"):
        label = "tag_" + label
    return label


def multiproc_dir() -> str:
    """The multiprocess directory from the environment ("" when single-process)."""
    return os.environ.get("C2C_PROMETHEUS_MULTIPROC_DIR") or os.environ.get("PROMETHEUS_MULTIPROC_DIR") or ""


def _enable_multiprocess(path: str) -> None:
    Path(path).mkdir(parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    # prometheus_client chose its value class when it was imported; choose again now that the
    # directory is known (metrics created from here on write to the shared files).
    values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]


class PrometheusBackend:
    """Creates one metric per name and label set, on first use."""

    def __init__(self, prefix: str = "", multiproc_path: str = "") -> None:
        self.prefix = prefix
        self.multiproc_path = multiproc_path
        if multiproc_path:
            _enable_multiprocess(multiproc_path)
        self.registry = prometheus_client.CollectorRegistry(auto_describe=True)
        self._metrics: dict[tuple[str, tuple[str, ...], tuple[str, ...]], Any] = {}
        self._lock = threading.Lock()
        self._conflicts_logged: set[str] = set()

    def __repr__(self) -> str:
        return f"PrometheusBackend(multiprocess={bool(self.multiproc_path)})"

    def _metric(self, kind: str, key: Key, tags: Tags) -> Any:
        labels = tuple(tags) if tags else ()
        cache_key = (kind, tuple(key), labels)
        metric = self._metrics.get(cache_key)
        if metric is None:
            with self._lock:
                metric = self._metrics.get(cache_key)
                if metric is None:
                    metric = self._metrics[cache_key] = self._create(kind, key, labels)
        if metric is False:
            return None
        if labels:
            assert tags is not None
            return metric.labels(*(str(v) for v in tags.values()))
        return metric

    def _create(self, kind: str, key: Key, labels: tuple[str, ...]) -> Any:
        name = metric_name(self.prefix, key)
        label_names = [_label(label) for label in labels]
        documentation = f"c2cwsgiutils {kind} {'.'.join(key)}"
        try:
            if kind == "timing":
                return prometheus_client.Histogram(
                    name + "_seconds", documentation, label_names, registry=self.registry
                )
            if kind == "counter":
                return prometheus_client.Counter(name, documentation, label_names, registry=self.registry)
            return prometheus_client.Gauge(
                name, documentation, label_names, registry=self.registry, multiprocess_mode="livemostrecent"
            )
        except ValueError as exc:
            # Same name with other labels or another type: Prometheus cannot have both.
            if name not in self._conflicts_logged:
                self._conflicts_logged.add(name)
                LOG.warning("Prometheus metric %s dropped: %s", name, exc)
            return False

    def timing(self, key: Key, seconds: float, tags: Tags) -> None:
        metric = self._metric("timing", key, tags)
        if metric is not None:
            metric.observe(seconds)

    def timings(self, items: Sequence[TimingItem]) -> None:
        for key, seconds, tags in items:
            self.timing(key, seconds, tags)

    def counter(self, key: Key, increment: int, tags: Tags) -> None:
        metric = self._metric("counter", key, tags)
        if metric is not None:
            metric.inc(increment)

    def gauge(self, key: Key, value: float, tags: Tags) -> None:
        metric = self._metric("gauge", key, tags)
        if metric is not None:
            metric.set(value)

    def close(self) -> None:
        pass


def collect(backend: PrometheusBackend | None = None) -> bytes:
    """The metrics in the Prometheus text format: every process's when in multiprocess mode."""
    path = backend.multiproc_path if backend is not None else multiproc_dir()
    if path:
        registry = prometheus_client.CollectorRegistry()
        MultiProcessCollector(registry, path=path)  # type: ignore[no-untyped-call]
        return prometheus_client.generate_latest(registry)
    if backend is not None:
        return prometheus_client.generate_latest(backend.registry)
    return prometheus_client.generate_latest()


def metrics_view(request: Any) -> Any:
    """The ``C2C_PROMETHEUS_PATH`` view."""
    from c2cwsgiutils import stats

    backend = next((b for b in stats.backends() if isinstance(b, PrometheusBackend)), None)
    response = request.response
    response.body = collect(backend)
    response.headers["Content-Type"] = prometheus_client.CONTENT_TYPE_LATEST
    response.cache_control = "no-store"
    return response


def start_metrics_server(port: int, addr: str = "0.0.0.0", path: str | None = None) -> Any:  # noqa: S104
    """Serve the metrics on a port of their own (call it in gunicorn's ``when_ready`` hook).

    In multiprocess mode it reads the files of every worker, so the gunicorn master can serve
    them. Returns what ``prometheus_client.start_http_server`` returns (``(server, thread)``).
    """
    folder = path if path is not None else multiproc_dir()
    if folder:
        registry = prometheus_client.CollectorRegistry()
        MultiProcessCollector(registry, path=folder)  # type: ignore[no-untyped-call]
        return prometheus_client.start_http_server(port, addr, registry=registry)
    from c2cwsgiutils import stats

    backend = next((b for b in stats.backends() if isinstance(b, PrometheusBackend)), None)
    registry = backend.registry if backend is not None else prometheus_client.REGISTRY
    return prometheus_client.start_http_server(port, addr, registry=registry)


def on_starting(server: Any = None) -> None:
    """gunicorn ``on_starting`` hook: empty the multiprocess directory (stale files of a previous run)."""
    folder = multiproc_dir()
    if not folder:
        return
    path = Path(folder)
    if path.is_dir():
        for entry in path.iterdir():
            if entry.is_dir():
                shutil.rmtree(entry)
            else:
                entry.unlink()
    path.mkdir(parents=True, exist_ok=True)


def child_exit(server: Any, worker: Any) -> None:
    """gunicorn ``child_exit`` hook: forget the live gauges of the worker that exited."""
    folder = multiproc_dir()
    if folder:
        mark_process_dead(worker.pid, folder)  # type: ignore[no-untyped-call]
