"""6.x's ``c2cwsgiutils.scripts.genversion``: the command is ``c2cwsgiutils-genversion``
(:func:`c2cwsgiutils.version.main`)."""

from __future__ import annotations

import sys

from c2cwsgiutils._deprecated import warn

__all__ = ["deprecated", "main"]


def main() -> None:
    """Write ``versions.json`` (see ``c2cwsgiutils-genversion --help``)."""
    from c2cwsgiutils import version

    sys.exit(version.main(sys.argv[1:]))


def deprecated() -> None:
    """The old command name: a warning, then :func:`main`."""
    warn("c2cwsgiutils_genversion.py", "c2cwsgiutils-genversion")
    main()
