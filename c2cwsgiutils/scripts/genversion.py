"""6.x's ``c2cwsgiutils.scripts.genversion``: the command is ``c2cwsgiutils-genversion``
(:func:`c2cwsgiutils.version.main`)."""

from __future__ import annotations

import re
import sys

from c2cwsgiutils._deprecated import warn

__all__ = ["deprecated", "main"]


# A `pip freeze` line: "name==1.2", or an editable install's comment "# Editable install ... (name===x)".
_FREEZE_LINE = re.compile(r"^(?:#.*\()?([A-Za-z0-9][A-Za-z0-9._-]*)===?([^\s)]+)\)?\s*$")


def _get_package_version(line: str) -> tuple[str | None, str | None]:
    """``(name, version)`` of a ``pip freeze`` line, ``(None, None)`` for another line. Private in
    6.x too, but its acceptance suite imports it."""
    match = _FREEZE_LINE.match(line.strip())
    return (match.group(1), match.group(2)) if match else (None, None)


def main() -> None:
    """Write ``versions.json`` (see ``c2cwsgiutils-genversion --help``)."""
    from c2cwsgiutils import version

    sys.exit(version.main(sys.argv[1:]))


def deprecated() -> None:
    """The old command name: a warning, then :func:`main`."""
    warn("c2cwsgiutils_genversion.py", "c2cwsgiutils-genversion")
    main()
