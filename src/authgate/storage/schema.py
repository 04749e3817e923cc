"""Alembic migrations, run from code: upgrade, and the schema's state against the code's.

Checking the state reads the `alembic_version` table directly, so a starting server never
imports Alembic (about 11 MiB of memory); only `authgate db upgrade` does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from sqlalchemy import Engine, inspect, text

if TYPE_CHECKING:
    from alembic.config import Config

SchemaState = Literal["empty", "current", "behind", "ahead"]

# The newest migration in migrations/versions; a test holds it equal to Alembic's head.
HEAD_REVISION = "0005"
KNOWN_REVISIONS = frozenset({"0001", "0002", "0003", "0004", "0005"})


def _config(engine: Engine | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", "authgate.storage:migrations")
    config.attributes["engine"] = engine
    return config


def migration_revisions() -> tuple[str | None, frozenset[str]]:
    """Alembic's own view of the shipped migrations: (head, every revision)."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(_config())
    return script.get_current_head(), frozenset(rev.revision for rev in script.walk_revisions())


def schema_state(engine: Engine) -> SchemaState:
    """Compare the database's migration revision with this code's newest one."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return "empty"
        current = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    if current is None:
        return "empty"
    if current == HEAD_REVISION:
        return "current"
    return "behind" if current in KNOWN_REVISIONS else "ahead"


def upgrade(engine: Engine) -> None:
    """Bring the database to the newest revision; running it again changes nothing."""
    from alembic import command

    command.upgrade(_config(engine), "head")


def upgrade_database(url: str) -> tuple[SchemaState, SchemaState]:
    """Migrate the database at `url` under the startup lock; return its state before and after.

    Servers starting meanwhile wait for it, as they wait for each other.
    """
    from authgate.storage.engine import create_database_engine, startup_lock

    engine = create_database_engine(url)
    try:
        with startup_lock(engine):
            before = schema_state(engine)
            upgrade(engine)
        return before, schema_state(engine)
    finally:
        engine.dispose()
