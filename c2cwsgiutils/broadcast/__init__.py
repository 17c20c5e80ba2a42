"""Call a function in every process of a service, optionally collecting the answers.

With ``C2C_REDIS_URL`` set, a call is published on a Redis channel that every process listens to
(one daemon thread per process); the caller waits for as many answers as Redis says it delivered
the message to, or until the timeout. Without Redis, the function runs in this process only.

Usage::

    @broadcast.decorator(expect_answers=True, timeout=5, name="myapp.get_stacks")
    def get_stacks() -> list[str]: ...

    answers = get_stacks()  # [{"pid": ..., "hostname": ..., "result": ...}, ...]

Spelled as in 6.x (``decorator(channel=..., expect_answers=True)``, ``broadcast(channel, ...)``,
``subscribe`` / ``unsubscribe``) the answers have 6.x's shape: the list of the results.

The listener survives Redis restarts: it reconnects with a back-off and logs one line per outage.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypedDict, TypeVar

from c2cwsgiutils import config

__all__ = [
    "Answer",
    "broadcast",
    "call",
    "cleanup",
    "decorator",
    "init",
    "setup",
    "shutdown",
    "subscribe",
    "unsubscribe",
]

LOG = logging.getLogger(__name__)

REDIS_URL = config.declare(
    "C2C_REDIS_URL",
    "c2c.redis_url",
    "",
    config.as_str,
    "Redis URL (redis://host:port/db) used to broadcast admin actions to every worker process and to "
    "keep log-level overrides. Empty: broadcasts reach this process only.",
    secret=True,
    feature="redis",
)
REDIS_PREFIX = config.declare(
    "C2C_REDIS_PREFIX",
    "c2c.redis_prefix",
    "c2c:",
    config.as_str,
    "Prefix of every Redis key and channel this toolkit uses (lets several services share one Redis).",
    feature="redis",
)
BROADCAST_TIMEOUT = config.declare(
    "C2C_BROADCAST_TIMEOUT",
    "c2c.broadcast_timeout",
    5.0,
    config.bounded(config.as_float, 0.01, 300),
    "Seconds a broadcast waits for the answers of the other processes.",
    feature="redis",
)


class Answer(TypedDict, total=False):
    """What one process answered: its identity and the function's result or error."""

    pid: int
    hostname: str
    result: Any
    error: str


class _Backend(Protocol):
    def broadcast(
        self, name: str, params: Mapping[str, Any], expect_answers: bool, timeout: float
    ) -> list[Answer]: ...

    def close(self) -> None: ...


_FUNCTIONS: dict[str, Callable[..., Any]] = {}
_UNKNOWN = "unknown broadcast function "


def _identity() -> Answer:
    return {"pid": os.getpid(), "hostname": socket.gethostname()}


def _call_local(name: str, params: Mapping[str, Any]) -> Answer:
    answer = _identity()
    func = _FUNCTIONS.get(name)
    if func is None:
        answer["error"] = f"{_UNKNOWN}{name}"
        return answer
    try:
        answer["result"] = func(**params)
    except Exception as exc:  # an admin action failing in one process must not kill the listener
        LOG.exception("Broadcast function %s failed", name)
        answer["error"] = f"{type(exc).__name__}: {exc}"
    return answer


class _LocalBackend:
    def broadcast(
        self, name: str, params: Mapping[str, Any], expect_answers: bool, timeout: float
    ) -> list[Answer]:
        return [_call_local(name, params)]

    def close(self) -> None:
        pass


class _RedisBackend:
    """Publishes on ``{prefix}broadcast`` and answers on per-call channels."""

    def __init__(self, settings: Mapping[str, Any] | None, prefix: str, listen: bool = True) -> None:
        from c2cwsgiutils import redis_client

        # The client name lets operators (and tests) tell our connections apart in CLIENT LIST.
        self.client_name = f"c2cwsgiutils-broadcast-{os.getpid()}"
        # C2C_REDIS_URL, or the master the sentinels announce (C2C_REDIS_SENTINELS).
        self._redis = redis_client.make_client(
            settings,
            socket_connect_timeout=2,
            socket_keepalive=True,
            health_check_interval=10,
            client_name=self.client_name,
        )
        self._channel = f"{prefix}broadcast"
        self._answer_prefix = f"{prefix}broadcast_answer:"
        self._stop = threading.Event()
        self._subscribed = threading.Event()
        self._thread: threading.Thread | None = None
        self.listen = listen
        if listen:
            self.start()

    def start(self) -> None:
        self._stop.clear()
        self._subscribed.clear()
        self._thread = threading.Thread(target=self._listen, name="c2c-broadcast", daemon=True)
        self._thread.start()
        # Wait briefly so that a broadcast sent right after start-up reaches this process too.
        self._subscribed.wait(2)

    def _listen(self) -> None:
        import redis

        outage_logged = False
        delay = 0.1
        while not self._stop.is_set():
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.subscribe(self._channel)
                if outage_logged:
                    LOG.warning("Broadcast listener reconnected to Redis")
                    outage_logged = False
                delay = 0.1
                self._subscribed.set()
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=0.5)
                    if message is not None and message.get("type") == "message":
                        self._handle(message["data"])
            except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
                self._subscribed.clear()
                if not outage_logged:
                    LOG.warning("Broadcast listener lost Redis (%s); reconnecting", type(exc).__name__)
                    outage_logged = True
                self._stop.wait(delay)
                delay = min(delay * 2, 5.0)
            except Exception:
                LOG.exception("Broadcast listener error")
                self._stop.wait(1)
            finally:
                with contextlib.suppress(Exception):  # closing a broken connection
                    pubsub.close()

    def _handle(self, data: bytes) -> None:
        try:
            message = json.loads(data)
            name = message["name"]
            params = message.get("params") or {}
            answer_channel = message.get("answer_channel")
        except (ValueError, KeyError, TypeError):
            LOG.warning("Ignoring a malformed broadcast message")
            return
        answer = _call_local(name, params)
        if answer_channel:
            try:
                self._redis.publish(answer_channel, json.dumps(answer, default=repr))
            except Exception:
                LOG.warning("Could not publish a broadcast answer", exc_info=True)

    def broadcast(
        self, name: str, params: Mapping[str, Any], expect_answers: bool, timeout: float
    ) -> list[Answer]:
        import redis

        message: dict[str, Any] = {"name": name, "params": dict(params)}
        try:
            if not expect_answers:
                self._redis.publish(self._channel, json.dumps(message))
                return []
            answer_channel = self._answer_prefix + uuid.uuid4().hex
            message["answer_channel"] = answer_channel
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.subscribe(answer_channel)
                receivers = int(self._redis.publish(self._channel, json.dumps(message)))
                answers: list[Answer] = []
                deadline = time.monotonic() + timeout
                while len(answers) < receivers:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        LOG.warning(
                            "Broadcast %s: %d of %d processes answered in time", name, len(answers), receivers
                        )
                        break
                    reply = pubsub.get_message(timeout=remaining)
                    if reply is not None and reply.get("type") == "message":
                        answers.append(json.loads(reply["data"]))
                return answers
            finally:
                pubsub.close()
        except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
            LOG.warning(
                "Redis unreachable for broadcast %s (%s); running it in this process only",
                name,
                type(exc).__name__,
            )
            return [_call_local(name, params)]

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)
        self._redis.close()


_backend: _Backend = _LocalBackend()
_timeout = BROADCAST_TIMEOUT.default
_lock = threading.Lock()


def setup(settings: Mapping[str, Any] | None = None, listen: bool = True) -> None:
    """Choose the backend: Redis when ``C2C_REDIS_URL`` or ``C2C_REDIS_SENTINELS`` is set. Idempotent.

    ``listen=False``: send only, for a process that runs no broadcast function (gunicorn's master
    serving the metrics); it would otherwise be counted among the receivers and answer an error.
    """
    global _backend, _timeout
    from c2cwsgiutils import redis_client

    url = REDIS_URL.get(settings) or redis_client.REDIS_SENTINELS.get(settings)
    prefix = REDIS_PREFIX.get(settings)
    _timeout = BROADCAST_TIMEOUT.get(settings)
    with _lock:
        if url and isinstance(_backend, _RedisBackend) and (_backend.listen or not listen):
            return
        if not url:
            return
        try:
            _backend.close()
            _backend = _RedisBackend(settings, prefix, listen)
        except ImportError:
            LOG.warning("Broadcast limited to this process: the 'redis' package is not installed")


def shutdown() -> None:
    """Stop the listener and fall back to in-process calls (tests, process exit)."""
    global _backend
    with _lock:
        _backend.close()
        _backend = _LocalBackend()


def _after_fork_in_child() -> None:
    # Threads do not survive fork (gunicorn --preload, Celery prefork): restart the listener.
    backend = _backend
    if isinstance(backend, _RedisBackend) and backend.listen:
        backend.start()


os.register_at_fork(after_in_child=_after_fork_in_child)


def call(
    name: str,
    params: Mapping[str, Any] | None = None,
    expect_answers: bool = False,
    timeout: float | None = None,
) -> list[Answer]:
    """Run the function registered as ``name`` in every process; returns the answers when expected.

    Each answer says which process gave it (``pid``, ``hostname``) and its ``result`` or ``error``.
    """
    wait = _timeout if timeout is None else timeout
    return _backend.broadcast(name, params or {}, expect_answers, wait)


def _results_6x(answers: list[Answer]) -> list[Any]:
    """6.x's answer shape: each process's result; a dict result gets the process's hostname and pid."""
    results: list[Any] = []
    for answer in answers:
        if answer.get("error", "").startswith(_UNKNOWN):
            continue  # 6.x: a process that did not subscribe to the channel did not answer at all
        result = answer.get("result")
        if isinstance(result, dict):
            result = {**result, "hostname": answer.get("hostname"), "pid": answer.get("pid")}
        results.append(result)
    return results


def broadcast(
    channel: str,
    params: Mapping[str, Any] | None = None,
    expect_answers: bool = False,
    timeout: float | None = None,
) -> list[Any] | None:
    """6.x's call: the results of every process (a failed one gives ``None``) when ``expect_answers``,
    else ``None``. :func:`call` gives the answers with their process and errors."""
    answers = call(channel, params, expect_answers, timeout)
    return _results_6x(answers) if expect_answers else None


def subscribe(channel: str, callback: Callable[..., Any]) -> None:
    """Register ``callback`` as the function that broadcasts to ``channel`` run (6.x API)."""
    _FUNCTIONS[channel] = callback


def unsubscribe(channel: str) -> None:
    """Forget the function of ``channel`` (6.x API)."""
    _FUNCTIONS.pop(channel, None)


F = TypeVar("F", bound=Callable[..., Any])


def decorator(
    channel: str | None = None,
    expect_answers: bool = False,
    timeout: float | None = None,
    *,
    name: str | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a function for broadcast; calling the result broadcasts it (keyword arguments only).

    With ``name=``, the call returns :func:`call`'s answers (process, result or error). Spelled as
    in 6.x (``channel=`` or neither), it returns what :func:`broadcast` returns: the results only,
    or ``None`` without ``expect_answers``.
    """

    def wrap(func: Callable[..., Any]) -> Callable[..., Any]:
        key = name or channel or f"{func.__module__}.{func.__qualname__}"
        _FUNCTIONS[key] = func

        if name is not None:

            @functools.wraps(func)
            def call_answers(**params: Any) -> list[Answer]:
                return call(key, params, expect_answers, timeout)

            wrapper: Callable[..., Any] = call_answers
        else:

            @functools.wraps(func)
            def call_6x(**params: Any) -> list[Any] | None:
                return broadcast(key, params, expect_answers, timeout)

            wrapper = call_6x
        wrapper.local = func  # type: ignore[attr-defined]
        return wrapper

    return wrap


def init(config: Any = None) -> None:
    """6.x's set-up (deprecated): use ``config.include("c2cwsgiutils.broadcast")``."""
    from c2cwsgiutils._deprecated import warn

    warn("c2cwsgiutils.broadcast.init", 'config.include("c2cwsgiutils.broadcast")')
    setup(config.get_settings() if config is not None else None)


def cleanup() -> None:
    """6.x's reset: stop the listener, back to in-process calls (same as :func:`shutdown`)."""
    shutdown()


def includeme(config_: Any) -> None:
    """Pyramid include: start the Redis listener when ``C2C_REDIS_URL`` is set."""
    setup(config_.get_settings())
