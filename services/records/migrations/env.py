"""Alembic's environment: runs on the connection `services.records.database.upgrade` hands it."""

from __future__ import annotations

from alembic import context

from services.records.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `hamafza db upgrade`, which opens the connection")
context.configure(connection=connection, target_metadata=Base.metadata, compare_type=True)
with context.begin_transaction():
    context.run_migrations()
