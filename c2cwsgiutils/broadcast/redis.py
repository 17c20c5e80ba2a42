"""6.x's ``c2cwsgiutils.broadcast.redis``: a broadcaster over Redis clients given by the caller.

It speaks 6.x's messages (``{"params": ..., "answer_channel": ...}`` on ``<prefix><channel>``), so
it reaches the 6.x processes of a service being upgraded one deployment at a time. The toolkit's own
broadcasts go through :mod:`c2cwsgiutils.broadcast` (``C2C_REDIS_URL``), not through this class.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from c2cwsgiutils.broadcast import interface, local, utils

__all__ = ["RedisBroadcaster"]

LOG = logging.getLogger(__name__)


class RedisBroadcaster(interface.BaseBroadcaster):
    """Subscriptions served by a daemon thread on ``master``'s pub/sub (``slave`` is not used)."""

    def __init__(self, broadcast_prefix: str, master: Any, slave: Any = None) -> None:
        self._prefix = broadcast_prefix
        self._master = master
        self._pubsub = master.pubsub(ignore_subscribe_messages=True)
        # redis-py's worker thread stops at once without a subscription: keep one.
        self._pubsub.subscribe(**{self._channel("c2c_dummy"): lambda message: None})
        self._thread = self._pubsub.run_in_thread(sleep_time=0.5, daemon=True)

    def _channel(self, channel: str) -> str:
        return self._prefix + channel

    def subscribe(self, channel: str, callback: Callable[..., Any]) -> None:
        def handle(message: Mapping[str, Any]) -> None:
            try:
                data = json.loads(message["data"])
            except (ValueError, TypeError):
                LOG.warning("Ignoring a malformed broadcast message on %s", channel)
                return
            try:
                response = callback(**(data.get("params") or {}))
            except Exception as exc:  # one failing subscriber must not kill the listener thread
                LOG.exception("Broadcast subscriber of %s failed", channel)
                response = {"status": 500, "message": str(exc)}
            answer_channel = data.get("answer_channel")
            if answer_channel:
                self._master.publish(answer_channel, json.dumps(utils.add_host_info(response), default=repr))

        self._pubsub.subscribe(**{self._channel(channel): handle})

    def unsubscribe(self, channel: str) -> None:
        self._pubsub.unsubscribe(self._channel(channel))

    def broadcast(
        self, channel: str, params: Mapping[str, Any], expect_answers: bool, timeout: float
    ) -> list[Any] | None:
        message: dict[str, Any] = {"params": dict(params)}
        if not expect_answers:
            self._master.publish(self._channel(channel), json.dumps(message))
            return None
        answer_channel = f"{self._channel(channel)}{uuid.uuid4().hex[:10]}"
        message["answer_channel"] = answer_channel
        answers: list[Any] = []
        pubsub = self._master.pubsub(ignore_subscribe_messages=True)
        try:
            pubsub.subscribe(answer_channel)
            receivers = int(self._master.publish(self._channel(channel), json.dumps(message)))
            deadline = time.monotonic() + timeout
            while len(answers) < receivers:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    LOG.warning("Broadcast on %s: %d of %d answers in time", channel, len(answers), receivers)
                    answers.extend([None] * (receivers - len(answers)))
                    break
                reply = pubsub.get_message(timeout=remaining)
                if reply is not None and reply.get("type") == "message":
                    answers.append(json.loads(reply["data"]))
        finally:
            pubsub.close()
        return answers

    def copy_local_subscriptions(self, prev_broadcaster: local.LocalBroadcaster) -> None:
        """Subscribe here every channel that ``prev_broadcaster`` served."""
        for channel, callback in prev_broadcaster.get_subscribers().items():
            self.subscribe(channel, callback)

    def close(self) -> None:
        """Stop the listener thread and close the pub/sub connection."""
        self._thread.stop()
        self._thread.join(2)
        self._pubsub.close()
