"""Refresh-token successors are random and kept sealed for the grace window only.

Before, a retry's successor was HMAC(server secret, presented token): whoever read the
database and held one old token computed the whole chain. Now the successor is random, kept
encrypted under a key derived from the presented token, and erased after the window; the
server secret that derived successors is deleted.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("refresh_tokens") as batch:
        batch.add_column(sa.Column("successor", sa.LargeBinary, nullable=True))
    op.create_index(
        "ix_refresh_tokens_sealed_used_at",
        "refresh_tokens",
        ["used_at"],
        sqlite_where=sa.text("successor IS NOT NULL"),
        postgresql_where=sa.text("successor IS NOT NULL"),
    )
    op.execute(sa.text("DELETE FROM server_secrets WHERE name = 'refresh_successor'"))


def downgrade() -> None:
    op.drop_index("ix_refresh_tokens_sealed_used_at", table_name="refresh_tokens")
    with op.batch_alter_table("refresh_tokens") as batch:
        batch.drop_column("successor")
