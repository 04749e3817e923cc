"""Alembic environment: runs on the engine that authgate.storage.schema hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from authgate.storage.tables import metadata

engine = context.config.attributes.get("engine")
if not isinstance(engine, Engine):
    raise RuntimeError("run migrations with `authgate db upgrade`")

with engine.connect() as connection:
    connection = connection.execution_options(sqlite_write=True)
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
