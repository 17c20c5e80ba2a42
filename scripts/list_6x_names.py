"""List the public module-level names of a c2cwsgiutils 6.x package, one ``module:name`` a line.

    python scripts/list_6x_names.py PATH/TO/c2cwsgiutils > tests/compat6/names_6_1_10.txt

PATH is the package directory of 6.1.10 (its wheel unzipped, or the tag's checkout). A name counts
when a module whose dotted path has no ``_private`` part defines it at module level (function,
class, assignment) without a leading underscore; the module loggers (``LOG``) are left out.
"""

import ast
import sys
from pathlib import Path


def main() -> None:
    root = Path(sys.argv[1])
    names: set[str] = set()
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if any(part.startswith("_") for part in parts) or "examples" in parts:
            continue
        module = ".".join(parts)
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            defined: list[str] = []
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                defined = [node.name]
            elif isinstance(node, ast.Assign):
                defined = [target.id for target in node.targets if isinstance(target, ast.Name)]
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                defined = [node.target.id]
            names.update(f"{module}:{name}" for name in defined if not name.startswith("_") and name != "LOG")
    print("\n".join(sorted(names)))


if __name__ == "__main__":
    main()
