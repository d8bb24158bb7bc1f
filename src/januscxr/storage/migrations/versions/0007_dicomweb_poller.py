"""DICOMweb polling: each configured server's QIDO cursor and the studies retrieved from it (filled by the poller work).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 21:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dicomweb_servers",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("cursor_study_date", sa.String(length=8), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_poll_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "dicomweb_studies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("server_name", sa.String(length=64), nullable=False),
        sa.Column("study_instance_uid", sa.String(length=64), nullable=False),
        sa.Column("study_date", sa.String(length=8), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("leased_by", sa.String(length=128), nullable=True),
        sa.Column("next_try_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("instances", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["server_name"], ["dicomweb_servers.name"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("server_name", "study_instance_uid", name="uq_dicomweb_studies_server_uid"),
    )
    op.create_index("ix_dicomweb_studies_claim", "dicomweb_studies", ["server_name", "state", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_dicomweb_studies_claim", table_name="dicomweb_studies")
    op.drop_table("dicomweb_studies")
    op.drop_table("dicomweb_servers")
