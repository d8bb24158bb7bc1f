"""Indexes: the audit log's action (the admin pages filter by it) and the login counters' window
start (each login attempt prunes the counters whose window ended long ago).

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29 23:30:00
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_audit_events_action", "audit_events", ["action"], unique=False)
    op.create_index("ix_login_counters_window_started_at", "login_counters", ["window_started_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_login_counters_window_started_at", table_name="login_counters")
    op.drop_index("ix_audit_events_action", table_name="audit_events")
