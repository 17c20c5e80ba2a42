"""``debug/stacks``: the stack of every thread of every worker process."""

from __future__ import annotations

import sys
import threading
import traceback
from typing import Any, TypedDict

from c2cwsgiutils import broadcast
from c2cwsgiutils.debug._process import per_process

__all__ = ["ThreadStack", "process_stacks", "stacks_view", "thread_stacks"]


class ThreadStack(TypedDict):
    """One thread: identity and its frames, outermost first."""

    id: int
    name: str
    daemon: bool
    frames: list[dict[str, Any]]


def thread_stacks() -> list[ThreadStack]:
    """The stacks of every thread of this process, sorted by thread name."""
    threads = {thread.ident: thread for thread in threading.enumerate()}
    result: list[ThreadStack] = []
    for ident, frame in sys._current_frames().items():
        thread = threads.get(ident)
        frames = [
            {"file": entry.filename, "line": entry.lineno, "function": entry.name, "code": entry.line or ""}
            for entry in traceback.extract_stack(frame)
        ]
        result.append(
            {
                "id": ident,
                "name": thread.name if thread is not None else f"unknown-{ident}",
                "daemon": bool(thread.daemon) if thread is not None else False,
                "frames": frames,
            }
        )
    result.sort(key=lambda stack: (stack["name"], stack["id"]))
    return result


@broadcast.decorator(expect_answers=True, name="c2cwsgiutils.debug.stacks")
def process_stacks() -> list[ThreadStack]:
    """Broadcast: every process answers with :func:`thread_stacks`."""
    return thread_stacks()


def stacks_view(request: Any) -> list[dict[str, Any]]:
    """One entry per process: ``pid``, ``hostname`` and ``threads`` (or ``error``)."""
    return per_process(process_stacks(), "threads")
