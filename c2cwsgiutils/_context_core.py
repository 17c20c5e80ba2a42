"""Internal. The compiled half of :mod:`c2cwsgiutils.context`: the contexts the hot paths derive.

:mod:`c2cwsgiutils.context` re-exports these functions and owns the layout they rely on (its
``_LAYOUT``, checked when it is imported); nothing else imports this module. They build the
named tuple by position, several times faster than ``ctx._replace(...)``, and are compiled with
mypyc (see setup.py and :mod:`c2cwsgiutils._compiled`) so that a span costs a C call here rather
than a Python one; the same file runs as plain Python otherwise. The values come from
``context.bind()``, which takes anything: they are typed ``Any``.
"""

from __future__ import annotations

from typing import Any, Final

from c2cwsgiutils import context

# Loaded by context.py once Context exists (the module is still being initialised then).
_Context: Final[Any] = context.Context
_new: Final = tuple.__new__


def with_route(ctx: tuple[Any, ...], route: Any) -> Any:
    """``ctx`` with its ``route`` replaced."""
    return _new(
        _Context, (ctx[0], ctx[1], ctx[2], ctx[3], ctx[4], ctx[5], ctx[6], ctx[7], route, ctx[9], ctx[10])
    )


def span_context(
    ctx: tuple[Any, ...], trace_id: Any, span_id: Any, parent_span_id: Any, span_path: Any
) -> Any:
    """The context of a span opened in ``ctx``: its ids and ``span_path`` replaced, the rest kept."""
    return _new(
        _Context,
        (
            ctx[0],
            trace_id,
            span_id,
            parent_span_id,
            ctx[4],
            ctx[5],
            ctx[6],
            span_path,
            ctx[8],
            ctx[9],
            ctx[10],
        ),
    )


def unsampled(ctx: tuple[Any, ...], span_path: Any) -> Any:
    """``ctx`` inside a span that was sampled out: ``sampled`` off, ``span_path`` replaced, same ids."""
    return _new(
        _Context, (ctx[0], ctx[1], ctx[2], ctx[3], False, ctx[5], ctx[6], span_path, ctx[8], ctx[9], ctx[10])
    )
