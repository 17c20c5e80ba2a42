"""Alembic environment of the collector (``c2cwsgiutils-logs migrate``)."""
