"""6.x's ``c2cwsgiutils.broadcast.local``: a broadcaster that reaches this process only."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from c2cwsgiutils.broadcast import interface, utils

__all__ = ["LocalBroadcaster"]


class LocalBroadcaster(interface.BaseBroadcaster):
    """Calls the subscriber of the channel in this process (tests, a service without Redis)."""

    def __init__(self) -> None:
        self._subscribers: dict[str, Callable[..., Any]] = {}

    def subscribe(self, channel: str, callback: Callable[..., Any]) -> None:
        self._subscribers[channel] = callback

    def unsubscribe(self, channel: str) -> None:
        self._subscribers.pop(channel, None)

    def broadcast(
        self, channel: str, params: Mapping[str, Any], expect_answers: bool, timeout: float
    ) -> list[Any] | None:
        callback = self._subscribers.get(channel)
        answers = [] if callback is None else [utils.add_host_info(callback(**params))]
        return answers if expect_answers else None

    def get_subscribers(self) -> Mapping[str, Callable[..., Any]]:
        """The subscribed callbacks by channel."""
        return self._subscribers
