"""Blender versions: the one that saved a job's file, the one a worker renders with

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ALTER TABLE, not Alembic's batch mode: for the server default, batch mode copies
    # jobs on SQLite, and with foreign keys on, the copy's DROP TABLE jobs deletes every task.
    op.add_column("jobs", sa.Column("blender_version", sa.Integer(), nullable=True))
    op.add_column(
        "jobs", sa.Column("blender_exact", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.add_column("workers", sa.Column("blender_version", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("workers", "blender_version")
    op.drop_column("jobs", "blender_exact")
    op.drop_column("jobs", "blender_version")
