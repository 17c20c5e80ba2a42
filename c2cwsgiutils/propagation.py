"""Hand-over between processes: :func:`export` the current trace as headers, :func:`adopt` it elsewhere.

The sending side puts ``export()`` into whatever carries the work (HTTP request headers, a Celery
message's headers, a job's payload); the receiving side runs the work inside
``adopt(headers, kind=...)``::

    # process A                                # process B
    headers = propagation.export()             with propagation.adopt(headers, kind="worker"):
    queue.put({"headers": headers, ...})           handle(job)  # same request_id and trace

The wire format is the one of HTTP: ``X-Request-ID``, a W3C ``traceparent`` whose parent is
the current span, so that the other side's spans become its children, and ``tracestate`` when
there is one. They are validated on the receiving side like incoming HTTP headers: a request ID
longer than 128 characters or with a character outside letters, digits and ``-_.:/+=@`` is
replaced by a fresh one (with a warning that does not repeat the value); an invalid
``traceparent`` is ignored (a new trace starts, without ``tracestate``); ``tracestate`` follows
the rules of :mod:`c2cwsgiutils.trace_context`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from c2cwsgiutils import context

__all__ = [
    "REQUEST_ID_HEADER",
    "TRACEPARENT_HEADER",
    "TRACESTATE_HEADER",
    "adopt",
    "adopt_start",
    "adopted_context",
    "continued_context",
    "export",
    "valid_request_id",
]

LOG = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Request-ID"
TRACEPARENT_HEADER = "traceparent"
TRACESTATE_HEADER = "tracestate"

_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9\-_.:/+=@]{1,128}\Z")


def valid_request_id(value: str | None) -> bool:
    """Whether ``value`` is acceptable as a request ID (1-128 letters, digits or ``-_.:/+=@``)."""
    return bool(value) and _VALID_REQUEST_ID.match(value) is not None  # type: ignore[arg-type]


def export(ctx: context.Context | None = None) -> dict[str, str]:
    """The headers that let another process continue ``ctx`` (default: the current context).

    ``X-Request-ID`` when there is a request ID, ``traceparent`` when there is a trace (its
    parent id is the current span, its sampled and random flags the context's), ``tracestate``
    when the trace has one. Empty outside any context.
    """
    ctx = context.current() if ctx is None else ctx
    headers: dict[str, str] = {}
    if ctx.request_id:
        headers[REQUEST_ID_HEADER] = ctx.request_id
    if ctx.trace_id:
        headers[TRACEPARENT_HEADER] = context.format_traceparent(
            ctx.trace_id, ctx.span_id or context.new_span_id(), ctx.sampled, ctx.random_trace_id
        )
        if ctx.tracestate:
            headers[TRACESTATE_HEADER] = ctx.tracestate
    return headers


def _header(headers: Mapping[str, Any], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        lowered = name.lower()
        value = headers.get(lowered)
        if value is None:
            for key, candidate in headers.items():
                if isinstance(key, str) and key.lower() == lowered:
                    value = candidate
                    break
    return value if isinstance(value, str) else None


def adopted_context(
    headers: Mapping[str, Any], kind: str = "", *, span_id: str | None = None, **fields: Any
) -> context.Context:
    """The context that continues, in this process, the work described by ``headers``.

    It has the incoming request ID (a fresh one when missing or invalid), the incoming trace with
    a new span id whose parent is the sender's span (a new trace when ``traceparent`` is missing
    or invalid), the incoming flags and ``tracestate``, ``kind`` and ``fields`` (e.g.
    ``task_id=...``).
    Header names are matched case-insensitively.

    ``span_id``, when it is a valid span id, is used instead of a new one: the sender may choose
    the id of the span the receiver works in, so that several processes handling the same
    message (Celery's worker main process and its pool process) log into the same span.
    """
    trace = context.parse_traceparent(_header(headers, TRACEPARENT_HEADER))
    tracestate = "" if trace is None else context.parse_tracestate(_header(headers, TRACESTATE_HEADER))
    return _continuation(
        _header(headers, REQUEST_ID_HEADER), trace, tracestate, kind, span_id=span_id, fields=fields
    )


def continued_context(
    ctx: context.Context, kind: str = "", *, span_id: str | None = None, **fields: Any
) -> context.Context:
    """``adopted_context(export(ctx), ...)`` without writing and parsing the headers.

    For work handed over inside the process (Celery's eager tasks).
    """
    trace = None
    if ctx.trace_id:
        parent = ctx.span_id or context.new_span_id()  # as export() does
        if context.valid_trace_id(ctx.trace_id) and context.valid_span_id(parent):
            trace = context.Traceparent(ctx.trace_id, parent, ctx.sampled, ctx.random_trace_id)
    tracestate = ctx.tracestate if trace is not None else ""
    return _continuation(ctx.request_id or None, trace, tracestate, kind, span_id=span_id, fields=fields)


def _continuation(
    request_id: str | None,
    trace: context.Traceparent | None,
    tracestate: str,
    kind: str,
    *,
    span_id: str | None,
    fields: dict[str, Any],
) -> context.Context:
    if request_id is None or not valid_request_id(request_id):
        if request_id is not None:
            LOG.warning(
                "Ignored an invalid incoming %s (%d characters); using a fresh one",
                REQUEST_ID_HEADER,
                len(request_id),
            )
        request_id = context.new_request_id()
    if trace is None:
        trace = context.Traceparent(context.new_trace_id(), "", True, True)
    if not context.valid_span_id(span_id):
        span_id = context.new_span_id()
    return context.Context(
        request_id=request_id,
        trace_id=trace.trace_id,
        span_id=span_id,
        parent_span_id=trace.parent_id,
        sampled=trace.sampled,
        kind=kind,
        tracestate=tracestate,
        random_trace_id=trace.random,
        **fields,
    )


def adopt_start(
    headers: Mapping[str, Any], kind: str = "", *, span_id: str | None = None, **fields: Any
) -> context.Token[context.Context]:
    """Make :func:`adopted_context` current; end it with ``context.restore(token)``."""
    return context.start(adopted_context(headers, kind, span_id=span_id, **fields))


@contextmanager
def adopt(
    headers: Mapping[str, Any], kind: str = "", *, span_id: str | None = None, **fields: Any
) -> Iterator[context.Context]:
    """Within the block, continue the work described by ``headers``; yields the new context.

    See :func:`adopted_context` for what the context holds. The previous context is restored
    afterwards, also when the block raises.
    """
    token = context.start(adopted_context(headers, kind, span_id=span_id, **fields))
    try:
        yield context.current()
    finally:
        context.restore(token)
