"""Alembic environment: migrations always run on a connection handed over by tagtrail."""

from __future__ import annotations

from alembic import context

from tagtrail.meta.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("tagtrail migrations run through tagtrail.meta.migrate, with a connection")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
