"""jobs.delete_requested_at goes: nothing ever set it

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ALTER TABLE, not a batch copy of the table: on SQLite (foreign keys on) the copy's
    # DROP TABLE jobs would delete every task of every job through the cascade.
    op.drop_column("jobs", "delete_requested_at")


def downgrade() -> None:
    op.add_column(
        "jobs", sa.Column("delete_requested_at", sa.DateTime(timezone=True), nullable=True)
    )
