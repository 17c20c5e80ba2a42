"""Alembic environment: the connection is handed over by ``storage.backends.migrate``."""

from __future__ import annotations

from alembic import context

from c2cwsgiutils.collector.storage.schema import METADATA, VERSION_TABLE

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=METADATA, version_table=VERSION_TABLE)
with context.begin_transaction():
    context.run_migrations()
