"""Waiting for services and comparing approximate results."""

from __future__ import annotations

import math
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

__all__ = ["approx", "retry_timeout", "wait_url"]

T = TypeVar("T")


def retry_timeout(
    func: Callable[[], T],
    timeout: float = 60.0,
    interval: float = 0.5,
    exceptions: tuple[type[BaseException], ...] = (Exception,),
) -> T:
    """Call ``func`` until it returns without raising one of ``exceptions``.

    Returns what ``func`` returned; at ``timeout`` the last error is raised again.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            return func()
        except exceptions:
            if time.monotonic() + interval > deadline:
                raise
            time.sleep(interval)


def wait_url(url: str, timeout: float = 60.0, expected_status: int = 200, interval: float = 0.5) -> None:
    """Wait until a GET of ``url`` answers ``expected_status``; raise :class:`TimeoutError` otherwise."""
    last: str = "no answer"
    deadline = time.monotonic() + timeout
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"wait_url needs an http(s) URL, got {url!r}")
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(  # noqa: S310 - test URLs given by the user
                url, timeout=max(0.5, min(5.0, deadline - time.monotonic()))
            ) as response:
                status = int(response.status)
        except urllib.error.HTTPError as error:
            status = error.code
        except (OSError, ValueError) as error:
            last = f"{type(error).__name__}: {error}"
            time.sleep(interval)
            continue
        if status == expected_status:
            return
        last = f"status {status}"
        time.sleep(interval)
    raise TimeoutError(f"{url} did not answer {expected_status} within {timeout}s (last: {last})")


class _Approx:
    """Equal to any structure matching ``expected`` with numbers within the tolerance."""

    def __init__(self, expected: Any, rel: float, abs_: float) -> None:
        self.expected = expected
        self.rel = rel
        self.abs = abs_

    def _equal(self, expected: Any, actual: Any) -> bool:
        if isinstance(expected, bool) or isinstance(actual, bool):
            return type(expected) is type(actual) and expected == actual
        if isinstance(expected, (int, float)) and isinstance(actual, (int, float)):
            return math.isclose(expected, actual, rel_tol=self.rel, abs_tol=self.abs)
        if isinstance(expected, Mapping) and isinstance(actual, Mapping):
            return expected.keys() == actual.keys() and all(
                self._equal(expected[k], actual[k]) for k in expected
            )
        if (
            isinstance(expected, Sequence)
            and isinstance(actual, Sequence)
            and not isinstance(expected, (str, bytes))
            and not isinstance(actual, (str, bytes))
        ):
            return len(expected) == len(actual) and all(
                self._equal(e, a) for e, a in zip(expected, actual, strict=True)
            )
        return bool(expected == actual)

    def __eq__(self, other: object) -> bool:
        return self._equal(self.expected, other)

    def __hash__(self) -> int:  # pragma: no cover - approx values are not meant to be hashed
        raise TypeError("approx values are not hashable")

    def __repr__(self) -> str:
        return f"approx({self.expected!r}, rel={self.rel}, abs={self.abs})"


def approx(expected: Any, rel: float = 1e-6, abs: float = 1e-12) -> Any:
    """A value equal to nested dicts/lists like ``expected`` whose numbers are within ``rel``/``abs``.

    Unlike ``pytest.approx``, it recurses into nested structures (JSON answers).
    """
    return _Approx(expected, rel, abs)
