"""6.x's ``c2cwsgiutils.broadcast.interface``: what a broadcaster object offers.

The module-level functions of :mod:`c2cwsgiutils.broadcast` are what the toolkit itself uses; these
classes are kept for 6.x applications and tests that built a broadcaster of their own.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["BaseBroadcaster"]


class BaseBroadcaster(abc.ABC):
    """Run a function registered under a channel in every process that subscribed to it."""

    @abc.abstractmethod
    def subscribe(self, channel: str, callback: Callable[..., Any]) -> None:
        """Run ``callback(**params)`` for each broadcast on ``channel``."""

    @abc.abstractmethod
    def unsubscribe(self, channel: str) -> None:
        """Stop answering broadcasts on ``channel``."""

    @abc.abstractmethod
    def broadcast(
        self, channel: str, params: Mapping[str, Any], expect_answers: bool, timeout: float
    ) -> list[Any] | None:
        """Send ``params`` to every subscriber of ``channel``; their results when ``expect_answers``
        (``None`` for a process that did not answer within ``timeout`` seconds), else ``None``."""
