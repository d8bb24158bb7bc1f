"""Study completion: when a study's instances stopped arriving, and jobs that wait for it (filled by the study-completion work).

``studies.last_received_at`` is when the study's newest instance arrived (existing studies take
their newest image's arrival); ``jobs.not_before`` holds a job back until its study has been
quiet for ``study_quiet_s``.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 21:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("studies") as batch:
        batch.add_column(sa.Column("last_received_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("not_before", sa.DateTime(timezone=True), nullable=True))
    newest = "(SELECT max(images.created_at) FROM images WHERE images.study_id = studies.id)"
    op.execute(f"UPDATE studies SET last_received_at = coalesce({newest}, received_at)")


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("not_before")
    with op.batch_alter_table("studies") as batch:
        batch.drop_column("last_received_at")
