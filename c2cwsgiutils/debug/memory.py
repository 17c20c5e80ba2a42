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

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "TypeStats",
    "analyze_type",
    "memory_view",
    "process_memory",
    "type_stats",
]

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


_ANALYZE_SECONDS = 30.0


def analyze_type(name: str, limit: int) -> dict[str, Any]:
    """6.x's ``analyze_type``: for ``builtins.function`` the top-level modules holding the most
    functions (``modules``), for another type its ``limit`` deep-biggest objects
    (``biggest_objects``: ``size_kb`` and a ``repr`` cut at 200 characters); ``timeout`` when it
    took longer than 30 s and stopped."""
    import heapq
    import time

    from c2cwsgiutils.debug.sizes import get_size

    deadline = time.monotonic() + _ANALYZE_SECONDS
    result: dict[str, Any] = {}
    modules: Counter[str] = Counter()
    biggest: list[tuple[int, int, Any]] = []
    for index, obj in enumerate(gc.get_objects()):
        if _type_name(type(obj)) != name and f"builtins.{type(obj).__qualname__}" != name:
            continue
        if name == "builtins.function":
            modules[(getattr(obj, "__module__", None) or "").split(".")[0]] += 1
        else:
            entry = (get_size(obj), index, obj)
            if len(biggest) < limit:
                heapq.heappush(biggest, entry)
            elif entry[0] > biggest[0][0]:
                heapq.heapreplace(biggest, entry)
        if time.monotonic() > deadline:
            result["timeout"] = True
            break
    if name == "builtins.function":
        result["modules"] = [{"module": m, "nb_func": n} for m, n in modules.most_common(limit)]
    else:
        result["biggest_objects"] = [
            {"size_kb": size / 1024, "repr": repr(obj)[:200]}
            for size, _, obj in sorted(biggest, reverse=True)
        ]
    return result


@broadcast.decorator(expect_answers=True, name="c2cwsgiutils.debug.memory")
def process_memory(limit: int = DEFAULT_LIMIT, analyze: str | None = None) -> dict[str, Any]:
    """Broadcast: every process answers with :func:`type_stats` (and :func:`analyze_type`)."""
    stats = type_stats(limit)
    if analyze:
        stats[analyze] = analyze_type(analyze, limit)
    return stats


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
    analyze = request.GET.get("analyze_type") or None
    entries = per_process(process_memory(limit=limit, analyze=analyze), "memory")
    if analyze:  # 6.x's place for it: beside the process's identity
        for entry in entries:
            entry[analyze] = entry.get("memory", {}).pop(analyze, None)
    return entries
