"""The audit log: who did what when. Details carry ids and statuses, never report text."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
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


@dataclass(frozen=True)
class EventFilter:
    """Which events to list: every field set narrows the list (``at_to`` is exclusive)."""

    action: str | None = None
    username: str | None = None
    user_id: int | None = None
    study_id: int | None = None
    at_from: datetime | None = None
    at_to: datetime | None = None


def _filtered(query: Select[Any], where: EventFilter) -> Select[Any]:
    """``query`` narrowed to the events ``where`` selects."""
    if where.action is not None:
        query = query.where(AuditEvent.action == where.action)
    if where.username is not None:  # through users.username, so that the indexed user_id column is searched
        query = query.where(
            AuditEvent.user_id == select(User.id).where(User.username == where.username).scalar_subquery()
        )
    if where.user_id is not None:
        query = query.where(AuditEvent.user_id == where.user_id)
    if where.study_id is not None:
        query = query.where(AuditEvent.study_id == where.study_id)
    if where.at_from is not None:
        query = query.where(AuditEvent.at >= where.at_from)
    if where.at_to is not None:
        query = query.where(AuditEvent.at < where.at_to)
    return query


def list_events(
    session: Session,
    where: EventFilter | None = None,
    *,
    before_id: int | None = None,
    after_id: int | None = None,
    limit: int = 200,
) -> list[AuditEvent]:
    """The latest events first, at most ``limit`` (1 to :data:`MAX_PAGE`), of those ``where`` selects.

    Page on to older events with ``before_id`` (the smallest id of the page before), or back to
    newer ones with ``after_id`` (the largest id of the page after): the page just newer than it."""
    limit = min(max(limit, 1), MAX_PAGE)
    query = _filtered(select(AuditEvent), where or EventFilter()).limit(limit)
    if after_id is not None:
        newer = query.where(AuditEvent.id > after_id).order_by(AuditEvent.id.asc())
        return list(reversed(session.scalars(newer).all()))
    if before_id is not None:
        query = query.where(AuditEvent.id < before_id)
    return list(session.scalars(query.order_by(AuditEvent.id.desc())))


@dataclass(frozen=True)
class EventPage:
    """A page of events, latest first, and the ids to page on with (None at either end)."""

    events: list[AuditEvent]
    older_before_id: int | None
    newer_after_id: int | None


def page_events(
    session: Session,
    where: EventFilter | None = None,
    *,
    before_id: int | None = None,
    after_id: int | None = None,
    limit: int = 200,
) -> EventPage:
    """:func:`list_events` with whether older and newer events exist (one indexed look-up each way)."""
    events = list_events(session, where, before_id=before_id, after_id=after_id, limit=limit)
    if not events:
        return EventPage(events, None, None)
    query = _filtered(select(AuditEvent.id), where or EventFilter()).limit(1)
    older = session.scalar(query.where(AuditEvent.id < events[-1].id).order_by(AuditEvent.id.desc()))
    newer = session.scalar(query.where(AuditEvent.id > events[0].id).order_by(AuditEvent.id.asc()))
    return EventPage(events, events[-1].id if older else None, events[0].id if newer else None)
