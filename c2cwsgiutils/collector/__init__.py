"""The log collector: a Pyramid application storing what every process logged.

Start it with ``c2cwsgiutils-logs serve``; build the WSGI app with
:func:`c2cwsgiutils.collector.app.create_app`. Importing this package imports nothing
third-party (only the settings are declared).
"""

from c2cwsgiutils.collector import settings as settings  # declares the settings

__all__ = ["settings"]
