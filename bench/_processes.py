"""Process-group accounting for the collector benchmarks (``bench_collector``, ``bench_overload``)."""

from __future__ import annotations

import os
from collections.abc import Iterator


def group_pids(pgid: int) -> Iterator[tuple[str, list[str]]]:
    """(pid, fields of ``/proc/<pid>/stat`` after the command) of the live processes of a group."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid:
                yield entry, fields
        except (OSError, ValueError, IndexError):
            continue


def group_rss(pgid: int) -> int:
    """Resident bytes of the live processes of a process group."""
    total = 0
    for pid, _fields in group_pids(pgid):
        try:
            with open(f"/proc/{pid}/statm", encoding="ascii") as statm:
                total += int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            continue
    return total


def group_cpu_seconds(pgid: int) -> float:
    """CPU seconds (user + system) used so far by the live processes of a process group."""
    ticks = sum(int(fields[11]) + int(fields[12]) for _pid, fields in group_pids(pgid))
    return ticks / os.sysconf("SC_CLK_TCK")
