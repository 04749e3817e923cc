"""`authgate db upgrade`: the database schema."""

from __future__ import annotations

import typer

from authgate.cli.app import app, out, read_settings
from authgate.service import upgrade_schema

db_app = typer.Typer(help="The database.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the database schema to this version; safe to run again."""
    before, after = upgrade_schema(read_settings())
    out.print(f"database schema: {before} -> {after}")
