"""``c2cwsgiutils-logs``: the collector's command line (serve, migrate, hash-secret, read and feed).

``c2cwsgiutils.collector.cli:main`` (the console entry point) and ``python -m
c2cwsgiutils.collector.cli`` stay as they were before the commands moved to :mod:`.commands`.
"""

from c2cwsgiutils.collector.cli.commands import main

__all__ = ["main"]
