"""workers.silent_after_s: how long each worker may stay silent, None for worker_timeout

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ALTER TABLE, not a batch copy: on SQLite the copy's DROP TABLE workers would take
    # what refers to the workers with it through the foreign keys.
    op.add_column("workers", sa.Column("silent_after_s", sa.Float(), nullable=True))


def downgrade() -> None:
    op.drop_column("workers", "silent_after_s")
