"""Shape of the answers of the broadcast debug views."""

from __future__ import annotations

from typing import Any

from c2cwsgiutils import broadcast


def per_process(answers: list[broadcast.Answer], key: str) -> list[dict[str, Any]]:
    """One entry per process, sorted by host and pid: ``pid``, ``hostname`` and ``key`` (or ``error``)."""
    entries: list[dict[str, Any]] = []
    for answer in answers:
        entry: dict[str, Any] = {"pid": answer.get("pid"), "hostname": answer.get("hostname")}
        if "error" in answer:
            entry["error"] = answer["error"]
        else:
            entry[key] = answer.get("result")
        entries.append(entry)
    entries.sort(key=lambda entry: (str(entry["hostname"]), entry["pid"] or 0))
    return entries
