"""Kept for configurations that name ``c2cwsgiutils.collector.app:main`` or ``:create_app``.

The application lives in :mod:`c2cwsgiutils.collector.http.app`.
"""

from c2cwsgiutils.collector.http.app import create_app, create_ingest_app, includeme, main

__all__ = ["create_app", "create_ingest_app", "includeme", "main"]
