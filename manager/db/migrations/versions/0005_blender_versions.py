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
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("blender_version", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("blender_exact", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("workers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("blender_version", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("workers", schema=None) as batch_op:
        batch_op.drop_column("blender_version")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("blender_exact")
        batch_op.drop_column("blender_version")
