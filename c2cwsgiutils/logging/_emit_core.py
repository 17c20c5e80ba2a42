"""The hot path of :class:`c2cwsgiutils.logging.CollectorHandler`: what ``emit`` does per record.

Compiled with mypyc when the package is built with a C compiler (see setup.py and
:mod:`c2cwsgiutils._compiled`); the same file runs as plain Python otherwise. The handler, the
record and everything read from them come from outside, so they are typed ``Any`` (compiled code
checks declared types at run time).
"""

from __future__ import annotations

import logging
from typing import Any, Final

from c2cwsgiutils import context

_get_context: Final[Any] = context.current
# Types whose values never change: %-formatting them later gives the same message.
IMMUTABLE: Final[frozenset[Any]] = frozenset((str, int, float, bool, type(None), bytes))
_format_exception: Final[Any] = logging.Formatter().formatException


def emit(handler: Any, record: Any) -> None:
    """Snapshot ``record`` into ``handler``'s queue (or its spool when the queue is full); never raises.

    A few attribute reads, the %-formatting of the message, one ``deque.append`` (atomic,
    lock-free), and the sender woken only when a batch is full. Everything else (the schema,
    JSON, the uuid, gzip, HTTP) happens in the sender thread.
    """
    sender: Any = handler.sender
    if sender is None:
        return
    try:
        if handler._needs_start:
            handler._start_in_child()
        message: Any
        try:
            msg: Any = record.msg
            message = msg if type(msg) is str else str(msg)
            args: Any = record.args
            if args:
                # Arguments that cannot change (a tuple of str, int, float ...) give the same
                # message later: the sender thread formats it. Anything else is formatted now.
                if type(args) is tuple:
                    deferred = True
                    for arg in args:
                        if type(arg) not in IMMUTABLE:
                            deferred = False
                            break
                    message = (message, args) if deferred else message % args
                else:
                    message = message % args
        except Exception:
            message = None  # the sender writes the schema's fallback (msg, args and the error)
        exc_text: Any = None
        if record.exc_info:
            try:
                exc_text = record.exc_text or _format_exception(record.exc_info)
            except Exception as exc:  # an exception whose __str__ raises ...: keep the record
                exc_text = f"<traceback unavailable: {type(exc).__name__}>"
        item = (record, message, _get_context(), exc_text)
        queue: Any = handler._queue
        if len(queue) < handler._room:
            queue.append(item)
            if len(queue) >= handler.batch_size and not sender.wake.is_set():
                sender.wake.set()
        else:
            handler.overflowed += 1
            handler.dropped += handler.spool.append((handler.to_line(item),))
            sender.backlog = True
    except Exception:  # a handler must never break the application it watches
        handler.emit_errors += 1
