"""State shared by several web processes: no schema change.

Everything a request needs was in the database already (``user_sessions`` with the CSRF token,
``login_counters``, ``jobs``); the one piece held in process memory, the 30-second login cache,
was removed rather than moved (a session lookup is one indexed query). The revision stays so
that the chain of pre-allocated revisions is unbroken.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 21:00:00
"""

from __future__ import annotations

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
