"""The Prometheus helpers of 6.x for a ``gunicorn.conf.py``: a metrics server in the master.

``start()`` (in ``on_starting``) serves the metrics of every worker on ``C2C_PROMETHEUS_PORT``
(multiprocess mode when ``PROMETHEUS_MULTIPROC_DIR`` is set), ``cleanup()`` (in ``post_fork``)
drops what the master set up that a worker must set up again. 7 can also serve them from the
application (``C2C_PROMETHEUS=true``, ``C2C_PROMETHEUS_PATH``).

As in 6.x, that server also shows each worker's garbage-collector and process series (labelled with
its ``pid``; :class:`MultiProcessCustomCollector` asks the workers through the broadcast, which
:func:`includeme` subscribes them to) and the memory maps of the master and its workers
(:class:`MemoryMapCollector`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from typing import Any, TypedDict

from c2cwsgiutils import config

__all__ = [
    "MULTI_PROCESS_COLLECTOR_BROADCAST_CHANNELS",
    "PROMETHEUS_PORT",
    "MemoryMapCollector",
    "MultiProcessCustomCollector",
    "SerializedMetric",
    "SerializedSample",
    "build_metric_name",
    "cleanup",
    "includeme",
    "serialize_collected_data",
    "start",
]

LOG = logging.getLogger(__name__)
_GC_CHANNEL = "c2cwsgiutils_prometheus_collector_gc"
_PROCESS_CHANNEL = "c2cwsgiutils_prometheus_collector_process"
MULTI_PROCESS_COLLECTOR_BROADCAST_CHANNELS = [_GC_CHANNEL, _PROCESS_CHANNEL]

PROMETHEUS_PORT = config.declare(
    "C2C_PROMETHEUS_PORT",
    "",
    0,
    config.bounded(config.as_int, 0, 65535),
    "Port of the metrics server c2cwsgiutils.prometheus.start() opens in gunicorn's master (6.x "
    "gunicorn.conf.py). 0: none.",
    feature="stats",
)


def start(registry: Any = None) -> None:
    """Serve the Prometheus metrics on ``C2C_PROMETHEUS_PORT`` in a thread (nothing when unset)."""
    port = PROMETHEUS_PORT.get(None)
    if not port:
        return
    import prometheus_client

    if registry is None:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            from prometheus_client import multiprocess

            registry = prometheus_client.CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        else:
            registry = prometheus_client.REGISTRY
    registry.register(MemoryMapCollector())
    if registry is not prometheus_client.REGISTRY:
        # The default registry has this process's own platform, GC and process series already.
        registry.register(prometheus_client.PLATFORM_COLLECTOR)
        registry.register(MultiProcessCustomCollector())
    from c2cwsgiutils import broadcast

    # The workers' series come through the broadcast (C2C_REDIS_URL ...); the master only asks.
    broadcast.setup(None, listen=False)
    prometheus_client.start_http_server(port, registry=registry)


def build_metric_name(postfix: str) -> str:
    """``postfix`` behind ``C2C_PROMETHEUS_PREFIX`` (6.x default ``c2cwsgiutils_``)."""
    return os.environ.get("C2C_PROMETHEUS_PREFIX", "c2cwsgiutils_") + postfix


def cleanup() -> None:
    """In a forked worker: forget the master's broadcast connection (the application sets it up again)."""
    from c2cwsgiutils import broadcast

    broadcast.shutdown()


def includeme(config_: Any) -> None:
    """Pyramid include: answer the master's :class:`MultiProcessCustomCollector` (the GC and process
    series of this worker). The application's metrics are set up by ``c2cwsgiutils.stats``."""
    from c2cwsgiutils import broadcast

    broadcast.subscribe(_GC_CHANNEL, _gc_series)
    broadcast.subscribe(_PROCESS_CHANNEL, _process_series)


class SerializedSample(TypedDict):
    """One sample as sent through the broadcast."""

    name: str
    labels: dict[str, str]
    value: float


class SerializedMetric(TypedDict):
    """One metric family as sent through the broadcast: ``gauge`` or ``counter``."""

    type: str
    args: dict[str, Any]
    samples: list[SerializedSample]


def _gc_series() -> list[SerializedMetric]:
    import prometheus_client

    return serialize_collected_data(prometheus_client.GC_COLLECTOR)


def _process_series() -> list[SerializedMetric]:
    import prometheus_client

    return serialize_collected_data(prometheus_client.PROCESS_COLLECTOR)


def serialize_collected_data(collector: Any) -> list[SerializedMetric]:
    """What ``collector`` collects, JSON-able, each sample labelled with this process's ``pid``.

    Raises ``NotImplementedError`` for a family other than gauge or counter (6.x did the same).
    """
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    pid = str(os.getpid())
    metrics: list[SerializedMetric] = []
    for family in collector.collect():
        if isinstance(family, GaugeMetricFamily):
            kind = "gauge"
        elif isinstance(family, CounterMetricFamily):
            kind = "counter"
        else:
            raise NotImplementedError(f"cannot serialise the {type(family).__name__} {family.name}")
        metrics.append(
            {
                "type": kind,
                "args": {"name": family.name, "documentation": family.documentation, "unit": family.unit},
                "samples": [
                    {"name": sample.name, "labels": {"pid": pid, **sample.labels}, "value": sample.value}
                    for sample in family.samples
                ],
            }
        )
    return metrics


class MultiProcessCustomCollector:
    """The GC and process series of every worker, gathered through the broadcast at each scrape."""

    def describe(self) -> list[Any]:
        """Nothing: registering must not broadcast (the series are known only when collected)."""
        return []

    def collect(self) -> Iterator[Any]:
        from c2cwsgiutils import broadcast

        answers: list[Any] = []
        for channel in MULTI_PROCESS_COLLECTOR_BROADCAST_CHANNELS:
            try:
                answers.extend(broadcast.broadcast(channel, expect_answers=True) or [])
            except Exception:  # a scrape must not fail because one channel did
                LOG.warning("Could not get the %s series of the workers", channel, exc_info=True)
        return _deserialize(answers)


def _deserialize(answers: list[Any]) -> Iterator[Any]:
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
    from prometheus_client.samples import Sample

    seen: set[tuple[str, frozenset[tuple[str, str]]]] = set()
    for metrics in answers:
        for metric in metrics or []:  # None: a worker that did not answer in time
            family: Metric
            if metric["type"] == "gauge":
                family = GaugeMetricFamily(**metric["args"])
            elif metric["type"] == "counter":
                family = CounterMetricFamily(**metric["args"])
            else:
                continue
            for sample in metric["samples"]:
                key = (sample["name"], frozenset(sample["labels"].items()))
                if key not in seen:
                    seen.add(key)
                    family.samples.append(Sample(sample["name"], sample["labels"], sample["value"]))
            yield family


def _own_processes() -> list[str]:
    """This process and its children (gunicorn's master and workers); 6.x read every /proc entry,
    which outside a container is every process of the machine."""
    own = str(os.getpid())
    children: list[str] = []
    try:
        for task in os.listdir(f"/proc/{own}/task"):
            with open(f"/proc/{own}/task/{task}/children", encoding="ascii") as file:
                children.extend(file.read().split())
    except OSError:
        pass
    return [own, *sorted(set(children), key=int)]


class MemoryMapCollector:
    """Memory of each mapped file of the processes (``/proc/<pid>/smaps``), by pid and map name.

    ``memory_type``: ``rss``, ``pss`` or ``size``; ``pids``: the processes (default: this one and
    its children).
    """

    def __init__(self, memory_type: str = "pss", pids: list[str] | None = None) -> None:
        if memory_type not in ("rss", "pss", "size"):
            raise ValueError(f"memory_type must be rss, pss or size (got {memory_type!r})")
        self.memory_type = memory_type
        self.pids = pids

    def describe(self) -> list[Any]:
        """Nothing: registering must not read every smaps file."""
        return []

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        from c2cwsgiutils.debug.sizes import dump_memory_maps

        gauge = GaugeMetricFamily(
            build_metric_name(f"process_smap_{self.memory_type}"),
            f"Container smap used {self.memory_type.capitalize()}",
            labels=["pid", "name"],
            unit="bytes",
        )
        for pid in self.pids if self.pids is not None else _own_processes():
            for mapping in dump_memory_maps(pid):
                gauge.add_metric([pid, mapping["name"]], mapping[f"{self.memory_type}_kb"] * 1024)
        yield gauge
