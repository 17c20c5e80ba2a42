"""``c2cwsgiutils-models-graph``: a Graphviz dot graph of SQLAlchemy models, written to stdout.

::

    c2cwsgiutils-models-graph myapp.models:Base | dot -Tsvg > models.svg

The target is ``module:attribute`` where the attribute is a declarative base (every mapped class
under it), a :class:`sqlalchemy.MetaData`, or omitted (``module``: every mapped class and table
found in the module). Each table is one node listing its columns (``PK``, ``FK``, type, nullable)
and each foreign key an edge to the table it references; with ``--inheritance``, mapped classes
that inherit from one another are joined by a dashed edge.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["load_target", "main", "models_graph", "tables_of"]


def load_target(spec: str) -> Any:
    """Import ``module`` or ``module:attribute`` (the current directory is importable)."""
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    module_name, _, attribute = spec.partition(":")
    target: Any = importlib.import_module(module_name)
    for part in filter(None, attribute.split(".")):
        target = getattr(target, part)
    return target


def tables_of(target: Any) -> tuple[list[Any], list[tuple[str, str]]]:
    """The tables of ``target`` and the (child, parent) table pairs of mapped-class inheritance."""
    from sqlalchemy import MetaData, Table
    from sqlalchemy.orm import DeclarativeBase, Mapper, registry

    mappers: list[Mapper[Any]] = []
    tables: dict[str, Table] = {}
    if isinstance(target, MetaData):
        tables.update(target.tables)
    elif isinstance(target, registry):
        mappers.extend(target.mappers)
    elif isinstance(target, type) and issubclass(target, DeclarativeBase):
        mappers.extend(target.registry.mappers)
    elif hasattr(target, "registry") and isinstance(target.registry, registry):
        mappers.extend(target.registry.mappers)  # a legacy declarative_base() class
    else:  # a module
        for value in vars(target).values():
            if isinstance(value, Table):
                tables[value.fullname] = value
            elif isinstance(getattr(value, "__mapper__", None), Mapper):
                mappers.append(value.__mapper__)
    inheritance: list[tuple[str, str]] = []
    for mapper in mappers:
        for table in mapper.tables:
            if isinstance(table, Table):
                tables[table.fullname] = table
        parent = mapper.inherits
        if parent is not None and isinstance(mapper.local_table, Table):
            parent_table = parent.local_table
            if isinstance(parent_table, Table) and parent_table is not mapper.local_table:
                inheritance.append((mapper.local_table.fullname, parent_table.fullname))
    return [tables[name] for name in sorted(tables)], sorted(set(inheritance))


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _node_id(name: str) -> str:
    return '"' + name.replace('"', '\\"') + '"'


def _column_type(column: Any) -> str:
    try:
        return str(column.type)
    except Exception:  # a type that cannot render without a dialect
        return type(column.type).__name__


def models_graph(tables: Iterable[Any], inheritance: Iterable[tuple[str, str]] = ()) -> str:
    """The dot source of ``tables`` (columns and foreign keys) and of the ``inheritance`` pairs."""
    tables = list(tables)
    names = {table.fullname for table in tables}
    lines = [
        "digraph models {",
        "  rankdir=LR;",
        '  node [shape=plaintext, fontname="Helvetica", fontsize=10];',
        '  edge [fontname="Helvetica", fontsize=9];',
    ]
    for table in tables:
        rows = [f'<tr><td colspan="3" bgcolor="lightgrey"><b>{_escape(table.fullname)}</b></td></tr>']
        for column in table.columns:
            flags = " ".join(
                flag
                for flag, present in (("PK", column.primary_key), ("FK", bool(column.foreign_keys)))
                if present
            )
            nullable = "" if column.nullable else " NOT NULL"
            rows.append(
                f'<tr><td align="left" port="{_escape(column.name)}">{_escape(column.name)}</td>'
                f'<td align="left">{_escape(_column_type(column))}{nullable}</td>'
                f"<td>{flags}</td></tr>"
            )
        label = '<table border="0" cellborder="1" cellspacing="0">' + "".join(rows) + "</table>"
        lines.append(f"  {_node_id(table.fullname)} [label=<{label}>];")
    for table in tables:
        for fk in sorted(table.foreign_keys, key=lambda fk: (fk.parent.name, fk.target_fullname)):
            target = fk.target_fullname.rsplit(".", 1)[0]
            if target not in names:
                lines.append(f'  {_node_id(target)} [shape=box, style=dashed, label="{_escape(target)}"];')
                names.add(target)
            lines.append(
                f"  {_node_id(table.fullname)} -> {_node_id(target)} "
                f'[label="{_escape(fk.parent.name)} → {_escape(fk.target_fullname)}"];'
            )
    for child, parent in inheritance:
        lines.append(
            f'  {_node_id(child)} -> {_node_id(parent)} [style=dashed, arrowhead=empty, label="is a"];'
        )
    lines.append("}")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    parser = argparse.ArgumentParser(prog="c2cwsgiutils-models-graph", description=__doc__.split("\n\n")[0])
    parser.add_argument("target", help="module:Base, module:metadata or module")
    parser.add_argument("--inheritance", action="store_true", help="draw mapped-class inheritance")
    args = parser.parse_args(argv)
    try:
        target = load_target(args.target)
    except (ImportError, AttributeError) as exc:
        print(f"c2cwsgiutils-models-graph: cannot load {args.target}: {exc}", file=sys.stderr)
        return 2
    tables, inheritance = tables_of(target)
    if not tables:
        print(f"c2cwsgiutils-models-graph: no table found in {args.target}", file=sys.stderr)
        return 1
    sys.stdout.write(models_graph(tables, inheritance if args.inheritance else ()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
