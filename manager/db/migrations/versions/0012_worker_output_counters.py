"""workers.tasks_completed and workers.frames_rendered: what each worker did, counted as it
reports, so that listing workers no longer counts every completed task of the farm

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ALTER TABLE, not a batch copy: on SQLite the copy's DROP TABLE would delete rows
    # through the foreign-key cascade.
    for column in ("tasks_completed", "frames_rendered"):
        op.add_column(
            "workers", sa.Column(column, sa.Integer(), nullable=False, server_default="0")
        )
    # A farm's workers keep the numbers the dashboard showed until now.
    op.execute(
        "UPDATE workers SET"
        " tasks_completed = (SELECT count(*) FROM tasks"
        "  WHERE tasks.worker_id = workers.id AND tasks.status = 'completed'),"
        " frames_rendered = (SELECT coalesce(sum(tasks.frame_count), 0) FROM tasks"
        "  WHERE tasks.worker_id = workers.id AND tasks.status = 'completed')"
    )


def downgrade() -> None:
    op.drop_column("workers", "frames_rendered")
    op.drop_column("workers", "tasks_completed")
