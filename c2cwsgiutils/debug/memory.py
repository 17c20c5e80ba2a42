"""``debug/memory``: the object types holding the most instances and bytes, per process.

Objects are those the garbage collector tracks (containers, instances, functions ...) plus the
objects they refer to directly that it does not track (strings, bytes, numbers): together they
cover nearly everything a Python program allocates. Sizes are shallow (``sys.getsizeof``): a list
counts its slots, not its items, which are counted under their own types.
"""

from __future__ import annotations

import gc
import os
import sys
from collections import Counter
from itertools import filterfalse
from typing import Any, TypedDict

from c2cwsgiutils import broadcast
from c2cwsgiutils.debug._process import per_process

__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "TypeStats", "memory_view", "process_memory", "type_stats"]

DEFAULT_LIMIT = 20
MAX_LIMIT = 1000


class TypeStats(TypedDict):
    """How many live objects of one type, and their shallow size in bytes."""

    type: str
    count: int
    size: int


def _size(obj: Any) -> int:
    return sys.getsizeof(obj, 0)  # 0 for the rare extension object that cannot tell


def _type_name(kind: type) -> str:
    module = kind.__module__
    return kind.__qualname__ if module == "builtins" else f"{module}.{kind.__qualname__}"


def type_stats(limit: int = DEFAULT_LIMIT) -> dict[str, Any]:
    """This process's live objects: totals, RSS, and the ``limit`` largest types by count and by size."""
    gc.collect()
    tracked = gc.get_objects()
    # Untracked objects are never in ``tracked``: deduplicate them among themselves only. The
    # iteration runs in C (get_referents over every object, filterfalse, map) to stay fast on
    # heaps of millions of objects.
    referents = list(filterfalse(gc.is_tracked, gc.get_referents(*tracked)))
    untracked = dict(zip(map(id, referents), referents, strict=True))
    del referents
    counts: Counter[type] = Counter()
    sizes: Counter[type] = Counter()
    for objects in (tracked, untracked.values()):
        counts.update(map(type, objects))
        for kind, size in zip(map(type, objects), map(_size, objects), strict=True):
            sizes[kind] += size
    del tracked, untracked
    rows: list[TypeStats] = [
        {"type": _type_name(kind), "count": count, "size": sizes[kind]} for kind, count in counts.items()
    ]
    return {
        "objects": sum(counts.values()),
        "size": sum(sizes.values()),
        "rss": _rss_bytes(),
        "by_count": sorted(rows, key=lambda row: (-row["count"], row["type"]))[:limit],
        "by_size": sorted(rows, key=lambda row: (-row["size"], row["type"]))[:limit],
    }


def _rss_bytes() -> int | None:
    # /proc is Linux only; elsewhere the resident size is simply not reported.
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


@broadcast.decorator(expect_answers=True, name="c2cwsgiutils.debug.memory")
def process_memory(limit: int = DEFAULT_LIMIT) -> dict[str, Any]:
    """Broadcast: every process answers with :func:`type_stats`."""
    return type_stats(limit)


def memory_view(request: Any) -> list[dict[str, Any]]:
    """One entry per process: ``pid``, ``hostname`` and ``memory`` (or ``error``)."""
    from pyramid.httpexceptions import HTTPBadRequest

    raw = request.GET.get("limit", str(DEFAULT_LIMIT))
    try:
        limit = int(raw)
    except ValueError:
        limit = 0
    if not 1 <= limit <= MAX_LIMIT:
        raise HTTPBadRequest(f"limit must be an integer between 1 and {MAX_LIMIT}")
    return per_process(process_memory(limit=limit), "memory")
