"""Alembic environment: migrations run on the connection the node hands over."""

from __future__ import annotations

from alembic import context

from tkroom.store.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("tkroom migrations run through tkroom.store.engine.migrate()")
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
