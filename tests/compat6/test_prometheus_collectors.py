"""6.x's Prometheus collectors: the workers' GC/process series through the broadcast, memory maps."""

from __future__ import annotations

import os

import prometheus_client
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, SummaryMetricFamily
from pyramid.config import Configurator

from c2cwsgiutils import prometheus


class _Fixed:
    def __init__(self, *families: object) -> None:
        self.families = families

    def collect(self) -> list[object]:
        return list(self.families)


def test_serialize_collected_data_labels_each_sample_with_the_pid() -> None:
    gauge = GaugeMetricFamily("g", "a gauge", labels=["kind"])
    gauge.add_metric(["x"], 1.5)
    counter = CounterMetricFamily("c", "a counter")
    counter.add_metric([], 3)
    metrics = prometheus.serialize_collected_data(_Fixed(gauge, counter))
    pid = str(os.getpid())
    assert [m["type"] for m in metrics] == ["gauge", "counter"]
    assert metrics[0]["samples"] == [{"name": "g", "labels": {"pid": pid, "kind": "x"}, "value": 1.5}]
    assert metrics[1]["args"] == {"name": "c", "documentation": "a counter", "unit": ""}


def test_serialize_refuses_other_families() -> None:
    import pytest

    with pytest.raises(NotImplementedError):
        prometheus.serialize_collected_data(_Fixed(SummaryMetricFamily("s", "a summary")))


def test_the_master_collects_the_workers_series_through_the_broadcast() -> None:
    prometheus.includeme(Configurator(settings={}))  # what each worker does
    registry = prometheus_client.CollectorRegistry()
    registry.register(prometheus.MultiProcessCustomCollector())
    text = prometheus_client.generate_latest(registry).decode()
    assert f'python_gc_collections_total{{generation="0",pid="{os.getpid()}"}}' in text.replace(
        f'pid="{os.getpid()}",generation="0"', f'generation="0",pid="{os.getpid()}"'
    )
    assert f'process_virtual_memory_bytes{{pid="{os.getpid()}"}}' in text


def test_memory_map_collector_reports_this_process() -> None:
    registry = prometheus_client.CollectorRegistry()
    registry.register(prometheus.MemoryMapCollector("rss"))
    text = prometheus_client.generate_latest(registry).decode()
    assert f'c2cwsgiutils_process_smap_rss_bytes{{name="[heap]",pid="{os.getpid()}"}}' in text.replace(
        f'pid="{os.getpid()}",name="[heap]"', f'name="[heap]",pid="{os.getpid()}"'
    )
