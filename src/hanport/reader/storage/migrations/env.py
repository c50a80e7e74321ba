"""Alembic environment of the reader database (run through hanport.reader.storage.database)."""

from __future__ import annotations

from alembic import context

from hanport.reader.storage.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
