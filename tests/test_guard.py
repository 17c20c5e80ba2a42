"""The one guard around our code inside the application's calls: a bug of ours logs, rate-limited."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from c2cwsgiutils import _guard

LOG = logging.getLogger("tests.guard")


@pytest.fixture(autouse=True)
def _fresh() -> Iterator[None]:
    _guard.reset()
    yield
    _guard.reset()


def _fail(where: str) -> None:
    try:
        raise RuntimeError("a bug of ours")
    except RuntimeError:
        _guard.internal_error(where, LOG)


def test_a_bug_hit_on_every_call_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    for _ in range(50):
        _fail("doing the thing")
    (record,) = [r for r in caplog.records if r.name == "tests.guard"]
    assert record.levelno == logging.ERROR
    assert "doing the thing" in record.getMessage()
    assert record.exc_info is not None
    assert str(record.exc_info[1]) == "a bug of ours"


def test_each_place_is_logged_on_its_own(caplog: pytest.LogCaptureFixture) -> None:
    _fail("here")
    _fail("there")
    _fail("here")
    assert [r.args[0] for r in caplog.records if r.name == "tests.guard"] == ["here", "there"]  # type: ignore[index]


def test_after_the_interval_it_is_logged_again_with_the_count(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [1000.0]
    monkeypatch.setattr("c2cwsgiutils._guard.time.monotonic", lambda: now[0])
    _fail("looping")
    _fail("looping")
    _fail("looping")
    now[0] += _guard.INTERVAL
    _fail("looping")
    messages = [r.getMessage() for r in caplog.records if r.name == "tests.guard"]
    assert len(messages) == 2
    assert "(2 more since the last report)" in messages[1]


def test_it_never_raises_even_when_logging_does(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(LOG, "error", broken)
    _fail("somewhere")
