"""DICOMweb polling: the Number of Study Related Instances a retrieved study had, so a later poll that
finds it grown (a late image, a repeat view) retrieves it again.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29 23:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("dicomweb_studies") as batch:
        batch.add_column(sa.Column("number_of_study_related_instances", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("dicomweb_studies") as batch:
        batch.drop_column("number_of_study_related_instances")
