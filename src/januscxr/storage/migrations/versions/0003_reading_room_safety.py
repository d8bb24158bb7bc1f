"""Reading-room safety: stored discordances, study descriptions, one reading session per mode.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 19:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# Names SQLite's reflection gives the unnamed constraints of 0001, so that batch mode can drop them.
_SQLITE_NAMES = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def upgrade() -> None:
    with op.batch_alter_table("studies", schema=None) as batch_op:
        batch_op.add_column(sa.Column("study_description", sa.String(length=64), nullable=True))
    with op.batch_alter_table("ai_results", schema=None) as batch_op:
        batch_op.add_column(sa.Column("discordances", sa.JSON(), nullable=True))
    sqlite = op.get_bind().dialect.name == "sqlite"
    old = "uq_reading_sessions_study_id" if sqlite else "reading_sessions_study_id_user_id_key"
    with op.batch_alter_table(
        "reading_sessions", schema=None, naming_convention=_SQLITE_NAMES if sqlite else None
    ) as batch_op:
        batch_op.add_column(sa.Column("study_mode", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.drop_constraint(old, type_="unique")
        batch_op.create_unique_constraint("uq_reading_sessions_mode", ["study_id", "user_id", "study_mode"])
    # Sessions that carry an arm were opened in study mode.
    op.execute("UPDATE reading_sessions SET study_mode = (arm IS NOT NULL)")
    with op.batch_alter_table("reading_sessions", schema=None) as batch_op:
        batch_op.alter_column("study_mode", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("reading_sessions", schema=None) as batch_op:
        batch_op.drop_constraint("uq_reading_sessions_mode", type_="unique")
        batch_op.create_unique_constraint("reading_sessions_study_id_user_id_key", ["study_id", "user_id"])
        batch_op.drop_column("study_mode")
    with op.batch_alter_table("ai_results", schema=None) as batch_op:
        batch_op.drop_column("discordances")
    with op.batch_alter_table("studies", schema=None) as batch_op:
        batch_op.drop_column("study_description")
