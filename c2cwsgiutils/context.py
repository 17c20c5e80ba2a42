"""The correlation spine: one immutable context per request, task or command, kept in a contextvar.

This module is the only door to that variable and the only code that knows the layout of
:class:`Context`:

- readers call :func:`current`;
- :func:`bind` replaces fields for a block; integrations make a context current with
  :func:`start` and undo it with :func:`restore` (the token they return);
- the hot paths derive contexts with :func:`with_route` (the route of the matched view),
  :func:`span_context` (a span opened in a context) and :func:`unsampled` (a span sampled out),
  which build the named tuple directly, several times faster than ``ctx._replace(...)``, and read
  the log record's correlation fields with :func:`correlation`.

Because the value lives in a ``contextvars`` variable, it neither leaks between requests served
by one thread nor between asyncio tasks, and :func:`wrap`/:func:`submit` carry it into threads
and executors. Nothing else imports the variable or indexes a :class:`Context` by position: adding
a field touches this module (and :data:`_LAYOUT`, checked at import) only.
"""

from __future__ import annotations

import contextvars
import operator
import os
import random
import re
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future
from contextlib import contextmanager
from typing import Any, Final, NamedTuple, ParamSpec, TypeGuard, TypeVar

from c2cwsgiutils import _compiled
from c2cwsgiutils.trace_context import Traceparent, format_traceparent, parse_traceparent, parse_tracestate

__all__ = [
    "EMPTY",
    "Context",
    "Token",
    "Traceparent",
    "bind",
    "child_traceparent",
    "correlation",
    "current",
    "format_traceparent",
    "new_ids",
    "new_request_id",
    "new_span_id",
    "new_trace_id",
    "parse_traceparent",
    "parse_tracestate",
    "random_trace_id",
    "restore",
    "span_context",
    "start",
    "submit",
    "unsampled",
    "valid_span_id",
    "valid_trace_id",
    "with_route",
    "wrap",
]

P = ParamSpec("P")
R = TypeVar("R")


class Context(NamedTuple):
    """A snapshot of the correlation fields; every field is a string, empty when unknown.

    Immutable (a named tuple: the cheapest immutable record to build, and one is built per request);
    derive a new one with :func:`bind` or ``ctx._replace(...)``.
    """

    request_id: str = ""
    """The ID a user greps for: from an incoming header, or 32 hex characters (a uuid4)."""
    trace_id: str = ""
    """W3C trace id (32 hex characters)."""
    span_id: str = ""
    """W3C span id of the current span (16 hex characters)."""
    parent_span_id: str = ""
    """The span this one is a child of (e.g. the caller's, from ``traceparent``)."""
    sampled: bool = True
    """W3C ``sampled`` flag."""
    kind: str = ""
    """``web``, ``celery``, ``cli`` ..."""
    task_id: str = ""
    """The Celery task id inside a task."""
    span_path: str = ""
    """Dotted names of the open spans (``request.sql``)."""
    route: str = ""
    """The Pyramid route name, once known."""
    tracestate: str = ""
    """The W3C ``tracestate`` to propagate (validated, see :func:`parse_tracestate`)."""
    random_trace_id: bool = True
    """W3C ``random-trace-id`` flag: true for the trace ids made here (random), as received otherwise."""

    @property
    def traceparent(self) -> str:
        """The W3C ``traceparent`` of this context ("" when there is no trace)."""
        if not self.trace_id:
            return ""
        return format_traceparent(self.trace_id, self.span_id, self.sampled, self.random_trace_id)


EMPTY = Context()
_CURRENT: contextvars.ContextVar[Context] = contextvars.ContextVar("c2cwsgiutils_context", default=EMPTY)

Token = contextvars.Token
"""What :func:`start` returns and :func:`restore` takes."""

# The fast operations are the contextvar's own methods, not functions around them: one call less
# on every log record, span and statement.
current: Final[Callable[[], Context]] = _CURRENT.get
"""``current()``: the current context (:data:`EMPTY` outside any request, task or command)."""
start: Final[Callable[[Context], contextvars.Token[Context]]] = _CURRENT.set
"""``start(ctx)``: make ``ctx`` current; returns the token :func:`restore` takes (integrations' fast path)."""
restore: Final[Callable[[contextvars.Token[Context]], None]] = _CURRENT.reset
"""``restore(token)``: undo a :func:`start` (the context before it is current again)."""


# ---- the layout: the only code that builds or reads a Context by position ------------------

_LAYOUT = (
    "request_id",
    "trace_id",
    "span_id",
    "parent_span_id",
    "sampled",
    "kind",
    "task_id",
    "span_path",
    "route",
    "tracestate",
    "random_trace_id",
)
if Context._fields != _LAYOUT:  # pragma: no cover - caught by the first import after an edit
    raise RuntimeError(
        f"c2cwsgiutils.context.Context fields changed to {Context._fields}: update _LAYOUT, "
        "correlation below and the positional builders of c2cwsgiutils._context_core"
    )

correlation: Final[Callable[[Context], tuple[str, str, str, str, str, str]]] = operator.itemgetter(
    0, 1, 2, 3, 5, 6
)
"""``correlation(ctx)``: ``(request_id, trace_id, span_id, parent_span_id, kind, task_id)``, the
fields a log record carries (:data:`c2cwsgiutils.logging.record.CONTEXT_FIELDS`), in one C call."""


# The builders, compiled with mypyc when the package is built so (c2cwsgiutils._context_core).
_core: Any = _compiled.load("c2cwsgiutils._context_core")

with_route: Final[Callable[[Context, str], Context]] = _core.with_route
"""``with_route(ctx, route)``: ``ctx`` with its ``route`` replaced (``ctx._replace(route=route)``, faster)."""
span_context: Final[Callable[[Context, str, str, str, str], Context]] = _core.span_context
"""``span_context(ctx, trace_id, span_id, parent_span_id, span_path)``: the context of a span opened
in ``ctx``, its ids and ``span_path`` replaced, the rest kept."""
unsampled: Final[Callable[[Context, str], Context]] = _core.unsampled
"""``unsampled(ctx, span_path)``: ``ctx`` inside a span that was sampled out (``sampled`` off,
``span_path`` replaced, same ids)."""


@contextmanager
def bind(**fields: Any) -> Iterator[Context]:
    """Within the block, the current context with ``fields`` replaced; yields that context."""
    ctx = _CURRENT.get()._replace(**fields)
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


def _reseed() -> None:
    _random.seed(os.urandom(32))


os.register_at_fork(after_in_child=_reseed)


_bits = _random.getrandbits
# Version (4) and variant (10xx) bits of a uuid4, for a 128-bit number, then for the first 128
# bits of a 320-bit number (request ID + trace id + span id in one draw).
_UUID4_CLEAR = ~((0xF << 76) | (0x3 << 62))
_UUID4_SET = (0x4 << 76) | (0x2 << 62)
_IDS_CLEAR = ~((0xF << 268) | (0x3 << 254))
_IDS_SET = (0x4 << 268) | (0x2 << 254)
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16


def new_request_id() -> str:
    """A fresh request ID: 32 lower-case hex characters (the hex form of a random uuid4)."""
    return "%032x" % ((_bits(128) & _UUID4_CLEAR) | _UUID4_SET)


def new_trace_id() -> str:
    """A fresh W3C trace id (32 hex characters, never all zeros)."""
    value = "%032x" % _bits(128)  # noqa: UP031 - measurably faster than format()
    return value if value != _ZERO_TRACE else new_trace_id()


def new_span_id() -> str:
    """A fresh W3C span id (16 hex characters, never all zeros)."""
    value = "%016x" % _bits(64)  # noqa: UP031 - measurably faster than format()
    return value if value != _ZERO_SPAN else new_span_id()


def new_ids() -> tuple[str, str, str]:
    """A fresh ``(request_id, trace_id, span_id)`` from one random draw (the start of a request)."""
    value = "%080x" % ((_bits(320) & _IDS_CLEAR) | _IDS_SET)
    trace_id = value[32:64]
    span_id = value[64:]
    if trace_id == _ZERO_TRACE or span_id == _ZERO_SPAN:
        return value[:32], new_trace_id(), new_span_id()
    return value[:32], trace_id, span_id


_TRACE_ID = re.compile("[0-9a-f]{32}").fullmatch
_SPAN_ID = re.compile("[0-9a-f]{16}").fullmatch


def valid_trace_id(value: object) -> TypeGuard[str]:
    """Whether ``value`` is a W3C trace id (32 lowercase hex characters, not all zeros)."""
    return type(value) is str and _TRACE_ID(value) is not None and value != _ZERO_TRACE


def valid_span_id(value: object) -> TypeGuard[str]:
    """Whether ``value`` is a W3C span id (16 lowercase hex characters, not all zeros)."""
    return type(value) is str and _SPAN_ID(value) is not None and value != _ZERO_SPAN


def random_trace_id(ctx: Context) -> bool:
    """``ctx.random_trace_id``."""
    return ctx.random_trace_id


def child_traceparent(ctx: Context) -> str:
    """A ``traceparent`` for an outgoing call: a new span, child of ``ctx``'s (same trace).

    Starts a new trace when ``ctx`` has none; the current context is not changed.
    """
    if not ctx.trace_id:
        return format_traceparent(new_trace_id(), new_span_id(), ctx.sampled)
    return format_traceparent(ctx.trace_id, new_span_id(), ctx.sampled, ctx.random_trace_id)
