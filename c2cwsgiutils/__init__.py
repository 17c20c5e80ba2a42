"""c2cwsgiutils: operations toolkit for Pyramid/WSGI services.

Importing this package is cheap: it imports no web framework, database or broker library.
Features are in their own modules (``c2cwsgiutils.context``, ``c2cwsgiutils.config`` ...) and are
wired into a Pyramid application with ``config.include("c2cwsgiutils.pyramid")``.
"""

from c2cwsgiutils.config import ConfigError

__all__ = ["ConfigError", "__version__"]

__version__ = "7.0.0.dev0"
