"""Alembic migrations, run from code: upgrade, and the schema's state against the code's."""

from __future__ import annotations

from typing import Literal

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

SchemaState = Literal["empty", "current", "behind", "ahead"]


def _config(engine: Engine | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", "authgate.storage:migrations")
    config.attributes["engine"] = engine
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships its migrations
        raise RuntimeError("no migrations found")
    return head


def schema_state(engine: Engine) -> SchemaState:
    """Compare the database's migration revision with this code's newest one."""
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    if current is None:
        return "empty"
    if current == head_revision():
        return "current"
    script = ScriptDirectory.from_config(_config())
    known = {rev.revision for rev in script.walk_revisions()}
    return "behind" if current in known else "ahead"


def upgrade(engine: Engine) -> None:
    """Bring the database to the newest revision; running it again changes nothing."""
    command.upgrade(_config(engine), "head")
