"""``python -m c2cwsgiutils.collector.cli``: the same as ``c2cwsgiutils-logs``."""

import sys

from c2cwsgiutils.collector.cli.commands import main

sys.exit(main())
