"""sheepit_keys: the keys SheepIt logins answer in publickey, which clients send in place of
the password at later logins (only their sha256 is kept)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sheepit_keys",
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("login", sa.String(length=200), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["login"], ["sheepit_users.login"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("key_hash"),
    )
    op.create_index("ix_sheepit_keys_login", "sheepit_keys", ["login"])


def downgrade() -> None:
    op.drop_index("ix_sheepit_keys_login", table_name="sheepit_keys")
    op.drop_table("sheepit_keys")
