"""tasks.frame_count: the frames a task renders, so a job's frame totals leave out its video

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ALTER TABLE, not a batch copy of the table: on SQLite (foreign keys on) the copy's
    # DROP TABLE would delete rows through the cascade.
    op.add_column(
        "tasks", sa.Column("frame_count", sa.Integer(), nullable=False, server_default="0")
    )
    # Tasks stored before this revision no longer say which of them render frames; their
    # steps stand in for frames, as the totals counted them until now.
    op.execute("UPDATE tasks SET frame_count = steps_total")


def downgrade() -> None:
    op.drop_column("tasks", "frame_count")
