"""tables of the protocol adapters: /farm, SheepIt-style, 2015 REST and cluster bookkeeping

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _uuid() -> sa.String:
    return sa.String(length=36)


def upgrade() -> None:
    op.create_table(
        "protocol_workers",
        sa.Column("protocol", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("worker_id", _uuid(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["worker_id"], ["workers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("protocol", "key"),
    )
    op.create_index("ix_protocol_workers_worker_id", "protocol_workers", ["worker_id"])
    op.create_table(
        "rest2015_tasks",
        sa.Column("number", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("job_id", _uuid(), nullable=False),
        sa.Column("parser", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("number"),
        sa.UniqueConstraint("job_id"),
    )
    op.create_table(
        "sheepit_users",
        sa.Column("login", sa.String(length=200), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("can_render", sa.Boolean(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("frames_rendered", sa.Integer(), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("login"),
    )
    op.create_table(
        "sheepit_sessions",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("login", sa.String(length=200), nullable=False),
        sa.Column("worker_id", _uuid(), nullable=False),
        sa.Column("os", sa.String(length=16), nullable=False),
        sa.Column("bits", sa.String(length=8), nullable=False),
        sa.Column("broken_frames", sa.Integer(), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("ended", sa.Boolean(), nullable=False),
        sa.Column("frames_rendered", sa.Integer(), nullable=False),
        sa.Column("last_job_id", _uuid(), nullable=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["login"], ["sheepit_users.login"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["worker_id"], ["workers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    op.create_index("ix_sheepit_sessions_login", "sheepit_sessions", ["login"])
    op.create_index("ix_sheepit_sessions_worker_id", "sheepit_sessions", ["worker_id"])
    op.create_table(
        "protocol_flags",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "cluster_reports",
        sa.Column("cluster", sa.String(length=200), nullable=False),
        sa.Column("job_id", _uuid(), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("cluster", "job_id"),
    )
    op.create_table(
        "cluster_mirrors",
        sa.Column("upstream_task", sa.String(length=200), nullable=False),
        sa.Column("upstream", sa.String(length=1000), nullable=False),
        sa.Column("local_job_id", _uuid(), nullable=False),
        sa.Column("frame", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["local_job_id"], ["jobs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("upstream_task"),
    )
    op.create_index("ix_cluster_mirrors_local_job_id", "cluster_mirrors", ["local_job_id"])


def downgrade() -> None:
    op.drop_index("ix_cluster_mirrors_local_job_id", table_name="cluster_mirrors")
    op.drop_table("cluster_mirrors")
    op.drop_table("cluster_reports")
    op.drop_table("protocol_flags")
    op.drop_index("ix_sheepit_sessions_worker_id", table_name="sheepit_sessions")
    op.drop_index("ix_sheepit_sessions_login", table_name="sheepit_sessions")
    op.drop_table("sheepit_sessions")
    op.drop_table("sheepit_users")
    op.drop_table("rest2015_tasks")
    op.drop_index("ix_protocol_workers_worker_id", table_name="protocol_workers")
    op.drop_table("protocol_workers")
