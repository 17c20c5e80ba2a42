from __future__ import annotations

import pytest

from c2cwsgiutils import stats
from c2cwsgiutils.stats.memory import MemoryBackend, memory_backend


def _memory() -> MemoryBackend:
    stats.setup({"c2c.stats_view": "true"})
    backend = memory_backend()
    assert backend is not None
    return backend


def test_no_backend_by_default() -> None:
    stats.setup({})
    assert stats.backends() == ()


def test_recording_without_backend_is_a_no_op() -> None:
    stats.add_timing(["a"], 1.0)
    stats.increment_counter(["a"])
    stats.set_gauge(["a"], 1)


def test_timer_context_records_count_total_min_max() -> None:
    backend = _memory()
    stats.add_timing(["job", "run"], 0.010)
    stats.add_timing(["job", "run"], 0.030)
    timer = backend.snapshot()["timers"]["job.run"]
    assert timer["count"] == 2
    assert timer["total_ms"] == pytest.approx(40)
    assert timer["min_ms"] == pytest.approx(10)
    assert timer["max_ms"] == pytest.approx(30)
    assert timer["avg_ms"] == pytest.approx(20)


def test_timer_context_records_even_when_the_block_raises() -> None:
    backend = _memory()
    with pytest.raises(ValueError, match="x"), stats.timer_context(["failing"]):
        raise ValueError("x")
    assert backend.snapshot()["timers"]["failing"]["count"] == 1


def test_tags_values_are_appended_to_the_name_for_backends_without_tags() -> None:
    backend = _memory()
    with stats.timer_context(["queue"], tags={"name": "emails"}):
        pass
    assert list(backend.snapshot()["timers"]) == ["queue.emails"]


def test_timer_decorator_uses_the_given_key() -> None:
    backend = _memory()

    @stats.timer(["my", "function"])
    def work(x: int) -> int:
        return x * 2

    assert work(21) == 42
    assert backend.snapshot()["timers"]["my.function"]["count"] == 1


def test_bare_timer_decorator_uses_module_and_qualified_name() -> None:
    backend = _memory()

    @stats.timer
    def work() -> str:
        return "done"

    assert work() == "done"
    name = f"{__name__}.test_bare_timer_decorator_uses_module_and_qualified_name.<locals>.work"
    assert list(backend.snapshot()["timers"]) == [name]


def test_started_timer_is_recorded_on_stop() -> None:
    backend = _memory()
    measure = stats.timer()
    elapsed = measure.stop(["later"])
    assert backend.snapshot()["timers"]["later"]["total_ms"] == pytest.approx(elapsed * 1000)


def test_counter_adds_increments() -> None:
    backend = _memory()
    stats.increment_counter(["hits"])
    stats.increment_counter(["hits"], 4)
    assert backend.snapshot()["counters"] == {"hits": 5}


def test_gauge_keeps_the_last_value() -> None:
    backend = _memory()
    stats.set_gauge(["rows"], 10, tags={"table": "users"})
    stats.set_gauge(["rows"], 7, tags={"table": "users"})
    assert backend.snapshot()["gauges"] == {"rows.users": 7}


def test_a_failing_backend_does_not_break_the_caller() -> None:
    class Broken:
        def timing(self, *args: object) -> None:
            raise OSError("down")

        timings = counter = gauge = timing

        def close(self) -> None:
            pass

    backend = _memory()
    stats.add_backend(Broken())
    stats.add_timing(["still"], 0.001)
    assert backend.snapshot()["timers"]["still"]["count"] == 1


def test_invalid_statsd_address_is_a_config_error() -> None:
    from c2cwsgiutils import ConfigError

    with pytest.raises(ConfigError, match="STATSD_ADDRESS"):
        stats.setup({"c2c.statsd_address": "no-port"})


def test_importing_the_features_imports_no_third_party_library() -> None:
    import subprocess
    import sys

    from tests.helpers import child_env

    script = (
        "import sys, c2cwsgiutils.stats, c2cwsgiutils.health_check, c2cwsgiutils.version\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'pyramid', 'sqlalchemy', 'redis', "
        "'prometheus_client', 'requests', 'alembic', 'webob'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], env=child_env(), capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_a_plain_string_key_is_one_name_not_its_characters() -> None:
    backend = _memory()
    stats.increment_counter("toto")
    stats.set_gauge("queue", 3)
    stats.add_timing("job", 0.01)
    stats.add_timings([("batch", 0.02, None)])
    stats.timer("whole").stop()
    snapshot = backend.snapshot()
    assert set(snapshot["counters"]) == {"toto"}
    assert set(snapshot["gauges"]) == {"queue"}
    assert set(snapshot["timers"]) == {"job", "batch", "whole"}
