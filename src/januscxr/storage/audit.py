"""The audit log: who did what when. Details carry ids and statuses, never report text."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from januscxr.storage.tables import AuditEvent, User


def record_event(
    session: Session,
    action: str,
    *,
    user: User | None = None,
    study_id: int | None = None,
    report_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event (``view``, ``save_draft``, ``sign``, ``addendum``, ``login``...)."""
    event = AuditEvent(
        action=action,
        user_id=user.id if user else None,
        username=user.username if user else None,
        study_id=study_id,
        report_id=report_id,
        detail=detail or {},
    )
    session.add(event)
    return event


MAX_PAGE = 1000


def list_events(
    session: Session,
    *,
    study_id: int | None = None,
    user_id: int | None = None,
    before_id: int | None = None,
    limit: int = 200,
) -> list[AuditEvent]:
    """The latest events first, at most ``limit`` (1 to :data:`MAX_PAGE`), optionally for one study
    or one user; ``before_id`` pages on: pass the smallest id of the page before."""
    limit = min(max(limit, 1), MAX_PAGE)
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if before_id is not None:
        query = query.where(AuditEvent.id < before_id)
    if study_id is not None:
        query = query.where(AuditEvent.study_id == study_id)
    if user_id is not None:
        query = query.where(AuditEvent.user_id == user_id)
    return list(session.scalars(query))
