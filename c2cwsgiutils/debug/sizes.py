"""Deep object sizes and the memory maps of a process (``/proc/<pid>/smaps``), as 6.x's ``debug.utils``."""

from __future__ import annotations

import gc
import os
import re
import sys
from types import FunctionType, ModuleType
from typing import Any

__all__ = ["dump_memory_maps", "get_size"]

# Shared by everything: counting them would make every size huge and meaningless.
_SHARED = (type, ModuleType, FunctionType)
# "7ff7d33bd000-7ff7d33be000 r--p 00000000 00:65 49        /usr/lib/x.so": a mapping's first line
_MAPPING = re.compile(r"^[0-9a-f]+-[0-9a-f]+ +\S{4} +[0-9a-f]+ +\S+ +\d+ *(.*)$")
_FIELD = re.compile(r"^(Size|Rss|Pss): +(\d+) kB$")


def get_size(obj: Any) -> int:
    """Bytes held by ``obj`` and everything it refers to, each object once (types, modules and
    functions excluded)."""
    if isinstance(obj, _SHARED):
        return 0
    seen: set[int] = set()
    total = 0
    layer = [obj]
    while layer:
        fresh = [o for o in layer if not isinstance(o, _SHARED) and id(o) not in seen]
        seen.update(map(id, fresh))
        total += sum(sys.getsizeof(o, 0) for o in fresh)
        layer = gc.get_referents(*fresh)
    return total


def dump_memory_maps(pid: str = "self") -> list[dict[str, Any]]:
    """Per mapped file (or ``[heap]``, ``[stack]``, ``""`` for anonymous memory) of process ``pid``:
    ``size_kb``, ``rss_kb``, ``pss_kb``; only those with a non-zero ``pss_kb``. ``[]`` when
    ``/proc/<pid>/smaps`` cannot be read."""
    path = os.path.join("/proc", str(pid), "smaps")
    try:
        with open(path, encoding="utf-8", errors="replace") as smaps:
            lines = smaps.read().splitlines()
    except OSError:
        return []
    sizes: dict[str, dict[str, int]] = {}
    current: dict[str, int] = {}
    for line in lines:
        mapping = _MAPPING.match(line)
        if mapping:
            current = sizes.setdefault(mapping.group(1).strip(), {"size_kb": 0, "rss_kb": 0, "pss_kb": 0})
            continue
        field = _FIELD.match(line)
        if field:
            current[field.group(1).lower() + "_kb"] = current.get(field.group(1).lower() + "_kb", 0) + int(
                field.group(2)
            )
    return [{"name": name, **values} for name, values in sizes.items() if values.get("pss_kb", 0) > 0]
