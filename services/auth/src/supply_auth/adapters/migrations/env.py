"""Alembic environment: runs on the connection the caller passes in `config.attributes["connection"]`."""

from __future__ import annotations

from alembic import context

from supply_auth.adapters.tables import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, compare_type=True)
with context.begin_transaction():
    context.run_migrations()
