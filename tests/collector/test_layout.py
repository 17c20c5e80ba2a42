"""The collector's layout (issue #20): the names users configure resolve, no import cycle."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

COLLECTOR = Path(__file__).resolve().parents[2] / "c2cwsgiutils" / "collector"


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("c2cwsgiutils.collector.app", "create_app"),  # README: create_app(settings)
        ("c2cwsgiutils.collector.app", "main"),  # PasteDeploy: call:c2cwsgiutils.collector.app:main
        ("c2cwsgiutils.collector.cli", "main"),  # the c2cwsgiutils-logs console script
    ],
)
def test_the_dotted_names_users_configure_resolve(module: str, name: str) -> None:
    assert callable(getattr(importlib.import_module(module), name))


def _module_name(path: Path) -> str:
    parts = path.relative_to(COLLECTOR.parent.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> dict[str, set[str]]:
    modules = {_module_name(path): path for path in COLLECTOR.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):  # lazy imports too
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("c2cwsgiutils.collector"):
                module = node.module or ""
                for alias in node.names:
                    found.add(f"{module}.{alias.name}" if f"{module}.{alias.name}" in modules else module)
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name.startswith("c2cwsgiutils.collector"))
        graph[name] = {target for target in found if target in modules and target != name}
    return graph


def test_no_import_cycle_in_the_collector() -> None:
    graph = _imports()
    cycles = []
    for start in graph:
        # Depth-first from each module, bounded by the number of modules.
        stack: list[tuple[str, tuple[str, ...]]] = [(start, (start,))]
        seen: set[str] = set()
        while stack and len(seen) <= len(graph):
            name, path = stack.pop()
            for target in graph[name]:
                if target == start:
                    cycles.append(" -> ".join((*path, start)))
                elif target not in seen:
                    seen.add(target)
                    stack.append((target, (*path, target)))
    assert not cycles, cycles


def test_the_relay_calls_no_private_helper_of_another_module() -> None:
    private = []
    for path in (COLLECTOR / "relay").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Attribute)
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
                and isinstance(node.value, ast.Name)
                and node.value.id in ("api", "ingest", "openapi", "stream", "wire")
            ):
                private.append(f"{path.name}:{node.lineno} {node.value.id}.{node.attr}")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("c2cwsgiutils.collector"):
                private.extend(
                    f"{path.name}:{node.lineno} {alias.name}"
                    for alias in node.names
                    if alias.name.startswith("_") and not alias.name.startswith("__")
                )
    assert not private, private
