"""jobs.requeue_completed: what a requeue done in steps moves, kept for the health checks to
finish it after a restart

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ALTER TABLE, not a batch copy: on SQLite the copy's DROP TABLE would delete every
    # task through the foreign-key cascade.
    op.add_column(
        "jobs",
        sa.Column("requeue_completed", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    op.drop_column("jobs", "requeue_completed")
