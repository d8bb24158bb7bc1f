"""Hardening: login counters in the database, uploaded file names, content hashes of images.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 18:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_counters",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("window_started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    with op.batch_alter_table("images", schema=None) as batch_op:
        batch_op.add_column(sa.Column("original_name", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("content_sha256", sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint("uq_images_content_sha256", ["content_sha256"])


def downgrade() -> None:
    with op.batch_alter_table("images", schema=None) as batch_op:
        batch_op.drop_constraint("uq_images_content_sha256", type_="unique")
        batch_op.drop_column("content_sha256")
        batch_op.drop_column("original_name")
    op.drop_table("login_counters")
