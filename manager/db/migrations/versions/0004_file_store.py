"""file store: shaman checkouts and the files each one names

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "shaman_checkouts",
        sa.Column("path", sa.String(length=1000), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("file_count", sa.BigInteger(), nullable=False),
        sa.Column("total_size", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("path"),
    )
    op.create_table(
        "shaman_checkout_files",
        sa.Column("checkout_path", sa.String(length=1000), nullable=False),
        sa.Column("path", sa.String(length=1000), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["checkout_path"], ["shaman_checkouts.path"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("checkout_path", "path"),
    )
    op.create_index("ix_shaman_checkout_files_content", "shaman_checkout_files", ["sha256", "size"])


def downgrade() -> None:
    op.drop_index("ix_shaman_checkout_files_content", table_name="shaman_checkout_files")
    op.drop_table("shaman_checkout_files")
    op.drop_table("shaman_checkouts")
