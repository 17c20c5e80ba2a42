"""6.x's ``generate_model_graph(module)``: print the Graphviz graph of a module's mapped tables.

The command ``c2cwsgiutils-models-graph module[:attribute]`` does the same.
"""

from __future__ import annotations

from typing import Any

__all__ = ["generate_model_graph"]


def generate_model_graph(module: Any) -> None:
    """Print the tables of ``module`` (and the inheritance of its mapped classes) as a dot graph."""
    from c2cwsgiutils.scripts.models_graph import models_graph, tables_of

    tables, inheritance = tables_of(module)
    print(models_graph(tables, inheritance))
