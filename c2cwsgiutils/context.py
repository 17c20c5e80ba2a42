"""The correlation spine: one immutable context per request, task or command, kept in a contextvar.

Readers call :func:`current`; the only writers are :func:`bind` (a block) and :func:`start`/
:func:`restore` (the integrations' fast path). Because the value lives in a ``contextvars``
variable, it neither leaks between requests served by one thread nor between asyncio tasks, and
:func:`wrap`/:func:`submit` carry it into threads and executors.
"""

from __future__ import annotations

import contextvars
import os
import re
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, ParamSpec, TypeVar

__all__ = [
    "EMPTY",
    "Context",
    "bind",
    "current",
    "format_traceparent",
    "new_request_id",
    "new_span_id",
    "new_trace_id",
    "parse_traceparent",
    "restore",
    "start",
    "submit",
    "wrap",
]

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class Context:
    """A snapshot of the correlation fields; every field is a string, empty when unknown."""

    request_id: str = ""
    trace_id: str = ""
    span_id: str = ""
    parent_span_id: str = ""
    sampled: bool = True
    kind: str = ""
    task_id: str = ""
    span_path: str = ""
    route: str = ""

    @property
    def traceparent(self) -> str:
        """The W3C ``traceparent`` of this context ("" when there is no trace)."""
        return format_traceparent(self.trace_id, self.span_id, self.sampled) if self.trace_id else ""


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


def new_request_id() -> str:
    """A fresh request ID: 32 lower-case hex characters (a uuid4)."""
    return uuid.uuid4().hex


def new_trace_id() -> str:
    """A fresh W3C trace id (32 hex characters, never all zeros)."""
    value = os.urandom(16).hex()
    return value if value != "0" * 32 else new_trace_id()


def new_span_id() -> str:
    """A fresh W3C span id (16 hex characters, never all zeros)."""
    value = os.urandom(8).hex()
    return value if value != "0" * 16 else new_span_id()


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


def format_traceparent(trace_id: str, span_id: str, sampled: bool = True) -> str:
    """Build a version-00 ``traceparent`` header."""
    return f"00-{trace_id}-{span_id}-{'01' if sampled else '00'}"
