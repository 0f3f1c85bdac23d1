"""jobs.delete_requested_at: a big job's deletion goes on in steps, and the health checks
finish one left half-way after a restart

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ALTER TABLE, not a batch copy: on SQLite the copy's DROP TABLE would delete every
    # task through the foreign-key cascade.
    op.add_column(
        "jobs", sa.Column("delete_requested_at", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    op.drop_column("jobs", "delete_requested_at")
