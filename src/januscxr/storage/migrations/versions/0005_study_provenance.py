"""Where a study came from and when its AI read was ready: study time, source, AI ready time.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 20:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("studies") as batch:
        batch.add_column(sa.Column("study_time", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("source", sa.String(length=80), nullable=True))
        batch.add_column(sa.Column("ai_ready_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("studies") as batch:
        batch.drop_column("ai_ready_at")
        batch.drop_column("source")
        batch.drop_column("study_time")
