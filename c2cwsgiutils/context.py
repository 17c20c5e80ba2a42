"""The correlation spine: one immutable context per request, task or command, kept in a contextvar.

Readers call :func:`current`; the only writers are :func:`bind` (a block) and :func:`start`/
:func:`restore` (the integrations' fast path). Because the value lives in a ``contextvars``
variable, it neither leaks between requests served by one thread nor between asyncio tasks, and
:func:`wrap`/:func:`submit` carry it into threads and executors.
"""

from __future__ import annotations

import contextvars
import os
import random
import re
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, ParamSpec, TypeVar

__all__ = [
    "EMPTY",
    "Context",
    "bind",
    "child_traceparent",
    "current",
    "format_traceparent",
    "new_request_id",
    "new_span_id",
    "new_trace_id",
    "parse_traceparent",
    "parse_tracestate",
    "restore",
    "start",
    "submit",
    "wrap",
]

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True, slots=True, init=False)
class Context:
    """A snapshot of the correlation fields; every field is a string, empty when unknown.

    Immutable: derive a new one with :func:`bind` (or ``dataclasses.replace``).
    """

    request_id: str
    trace_id: str
    span_id: str
    parent_span_id: str
    sampled: bool
    kind: str
    task_id: str
    span_path: str
    route: str
    tracestate: str

    # A hand-written __init__: the one dataclass generates for a frozen class goes through
    # object.__setattr__ for each field, twice as slow, and a Context is built on every request.
    def __init__(  # noqa: PLR0917 - positional, like the dataclass __init__ it replaces
        self,
        request_id: str = "",
        trace_id: str = "",
        span_id: str = "",
        parent_span_id: str = "",
        sampled: bool = True,
        kind: str = "",
        task_id: str = "",
        span_path: str = "",
        route: str = "",
        tracestate: str = "",
    ) -> None:
        _set_request_id(self, request_id)
        _set_trace_id(self, trace_id)
        _set_span_id(self, span_id)
        _set_parent_span_id(self, parent_span_id)
        _set_sampled(self, sampled)
        _set_kind(self, kind)
        _set_task_id(self, task_id)
        _set_span_path(self, span_path)
        _set_route(self, route)
        _set_tracestate(self, tracestate)

    @property
    def traceparent(self) -> str:
        """The W3C ``traceparent`` of this context ("" when there is no trace)."""
        return format_traceparent(self.trace_id, self.span_id, self.sampled) if self.trace_id else ""


# The slots' member descriptors: setting through them bypasses the frozen __setattr__.
_SLOTS: dict[str, Any] = dict(vars(Context))
_set_request_id = _SLOTS["request_id"].__set__
_set_trace_id = _SLOTS["trace_id"].__set__
_set_span_id = _SLOTS["span_id"].__set__
_set_parent_span_id = _SLOTS["parent_span_id"].__set__
_set_sampled = _SLOTS["sampled"].__set__
_set_kind = _SLOTS["kind"].__set__
_set_task_id = _SLOTS["task_id"].__set__
_set_span_path = _SLOTS["span_path"].__set__
_set_route = _SLOTS["route"].__set__
_set_tracestate = _SLOTS["tracestate"].__set__


EMPTY = Context()
_CURRENT: contextvars.ContextVar[Context] = contextvars.ContextVar("c2cwsgiutils_context", default=EMPTY)

Token = contextvars.Token


def current() -> Context:
    """The current context (:data:`EMPTY` outside any request, task or command)."""
    return _CURRENT.get()


def start(ctx: Context) -> contextvars.Token[Context]:
    """Make ``ctx`` current and return the token that :func:`restore` takes (integrations' fast path)."""
    return _CURRENT.set(ctx)


def restore(token: contextvars.Token[Context]) -> None:
    """Undo a :func:`start`."""
    _CURRENT.reset(token)


@contextmanager
def bind(**fields: Any) -> Iterator[Context]:
    """Within the block, the current context with ``fields`` replaced; yields that context."""
    ctx = replace(_CURRENT.get(), **fields)
    token = _CURRENT.set(ctx)
    try:
        yield ctx
    finally:
        _CURRENT.reset(token)


def wrap(func: Callable[P, R]) -> Callable[P, R]:
    """A callable that runs ``func`` in a copy of the caller's context (for threads and callbacks)."""
    snapshot = contextvars.copy_context()

    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        return snapshot.copy().run(func, *args, **kwargs)

    return run


def submit(executor: Executor, func: Callable[..., R], *args: Any, **kwargs: Any) -> Future[R]:
    """``executor.submit`` that runs ``func`` in the caller's context."""
    return executor.submit(wrap(func), *args, **kwargs)


# ---- identifiers ---------------------------------------------------------------------------


# IDs need to be unique, not secret: a private Mersenne Twister seeded from os.urandom is several
# times faster than uuid.uuid4()/os.urandom (one system call each, slow in sandboxes), and is
# re-seeded in forked children so that two workers never produce the same sequence.
_random = random.Random(os.urandom(32))
_bits = _random.getrandbits
_UUID4_MASK = ~((0xF << 76) | (0x3 << 62))
_UUID4_BITS = (0x4 << 76) | (0x2 << 62)


def _reseed() -> None:
    _random.seed(os.urandom(32))


os.register_at_fork(after_in_child=_reseed)


def new_request_id() -> str:
    """A fresh request ID: 32 lower-case hex characters (the hex form of a random uuid4)."""
    return "%032x" % ((_bits(128) & _UUID4_MASK) | _UUID4_BITS)


def new_trace_id() -> str:
    """A fresh W3C trace id (32 hex characters, never all zeros)."""
    return "%032x" % (_bits(128) or 1)


def new_span_id() -> str:
    """A fresh W3C span id (16 hex characters, never all zeros)."""
    return "%016x" % (_bits(64) or 1)


_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?\Z")


def parse_traceparent(value: str | None) -> tuple[str, str, bool] | None:
    """Parse a W3C ``traceparent`` header into ``(trace_id, parent_span_id, sampled)``.

    Returns ``None`` for anything the W3C Trace Context spec says to ignore: wrong shape, version
    ``ff``, all-zero ids, or extra fields on version 00.
    """
    if not value:
        return None
    match = _TRACEPARENT.match(value.strip())
    if match is None:
        return None
    version, trace_id, span_id, flags, rest = match.groups()
    if version == "ff" or (version == "00" and rest):
        return None
    if trace_id == "0" * 32 or span_id == "0" * 16:
        return None
    return trace_id, span_id, bool(int(flags, 16) & 1)


_TRACESTATE_UNSAFE = re.compile(r"[^\x20-\x7e]")


def parse_tracestate(value: str | None) -> str:
    """The ``tracestate`` header to propagate, or "" when it is absent or not acceptable.

    Kept opaque as W3C asks; rejected when longer than 512 characters or containing anything but
    printable ASCII (so that it can never inject a header or a log line).
    """
    if not value or len(value) > 512 or _TRACESTATE_UNSAFE.search(value) is not None:
        return ""
    return value.strip()


def format_traceparent(trace_id: str, span_id: str, sampled: bool = True) -> str:
    """Build a version-00 ``traceparent`` header."""
    return f"00-{trace_id}-{span_id}-{'01' if sampled else '00'}"


def child_traceparent(ctx: Context) -> str:
    """A ``traceparent`` for an outgoing call: a new span, child of ``ctx``'s (same trace).

    Starts a new trace when ``ctx`` has none; the current context is not changed.
    """
    return format_traceparent(ctx.trace_id or new_trace_id(), new_span_id(), ctx.sampled)
