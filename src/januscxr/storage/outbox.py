"""The outbox: what januscxr sends to the PACS, the RIS and the EHR, one row per (destination, object).

An object is written once (a DICOM file in the data folder, or the text of an HL7 message or a
FHIR bundle) and queued for each destination in the same transaction that stored what it
reports, so that nothing signed or read is lost between the two. Its identity is fixed then:
``object_uid`` is the SOP Instance UID, the HL7 message control id or the FHIR bundle's id, unique
per destination, so a resend after a restart carries the same UIDs and a receiver stores it once.

Sending follows the job queue (:mod:`januscxr.storage.jobs`): a sender claims the oldest due item
of its destination under a lease (PostgreSQL: ``FOR UPDATE SKIP LOCKED``; SQLite: the IMMEDIATE
write lock), sends it outside the transaction, then marks it sent only while it still holds it.
The versions of a report go to one destination in the order they were signed (report SRs, HL7
messages and FHIR bundles of one study, kind by kind): an amendment never overtakes the final
report it corrects. Other objects go independently, so one the PACS refuses holds up no other.

Nothing is dropped. A retryable failure (refused, timed out, nonsense answered) is tried again
after ``base_s * 2^(attempts-1)`` seconds, at most ``cap_s``, for as long as it takes: a PACS that
is down for a day receives everything when it is back. A failure that retrying cannot mend (the
receiver refused the content: FHIR 4xx; an object that could not be encoded) is set aside as
failed, shown with its error on the admin page, whose retry button queues it again.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, and_, exists, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, aliased

from januscxr.errors import ConflictError, NotFoundError
from januscxr.storage.dicomweb import backoff_s
from januscxr.storage.tables import JobState, OutboxItem, utcnow
from januscxr.storage.users import as_utc

DEFAULT_LEASE_S = 120.0
ERROR_MAX_CHARS = 2000
PENDING = (JobState.QUEUED.value, JobState.RUNNING.value)


class OutboxKind(StrEnum):
    """What an item is."""

    AI_SR = "ai_sr"  # TID 1500 Comprehensive 3D SR of the AI results
    HEATMAP = "heatmap"  # Secondary Capture of one flagged finding's heatmap
    REPORT_SR = "report_sr"  # TID 2000 Enhanced SR of the signed (or amended) report
    DRAFT_SR = "draft_sr"  # the AI draft as a preliminary SR
    ORU = "oru"  # HL7 v2 ORU^R01
    FHIR = "fhir"  # FHIR transaction bundle

    @property
    def is_dicom(self) -> bool:
        return self in {OutboxKind.AI_SR, OutboxKind.HEATMAP, OutboxKind.REPORT_SR, OutboxKind.DRAFT_SR}


ORDERED_KINDS = (OutboxKind.REPORT_SR.value, OutboxKind.ORU.value, OutboxKind.FHIR.value)


class OutgoingObject(NamedTuple):
    """An object to queue: its identity and where its bytes are (a file or a text)."""

    kind: OutboxKind
    object_uid: str
    study_id: int | None = None
    report_id: int | None = None
    payload_path: str | None = None  # relative to the data folder
    payload_text: str | None = None


class ClaimedItem(NamedTuple):
    """An item a sender holds: send it to ``destination``; ``attempt`` counts from 1."""

    id: int
    destination: str
    kind: OutboxKind
    object_uid: str
    payload_path: str | None
    payload_text: str | None
    attempt: int
    owner: str


class OutboxRow(NamedTuple):
    """An item as the admin page shows it."""

    id: int
    destination: str
    kind: str
    object_uid: str
    study_id: int | None
    state: str
    attempts: int
    last_error: str | None
    next_try_at: datetime | None
    created_at: datetime
    sent_at: datetime | None


class OutboxLeaseLostError(ConflictError):
    """The sender's lease on an item ended (it took too long): another sender may hold it."""


def _insert(session: Session) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def enqueue(session: Session, destination: str, item: OutgoingObject, *, error: str | None = None) -> bool:
    """Queue ``item`` for ``destination``; False when it was queued there before (its key is taken).

    With ``error`` (the object could not be encoded) the row is stored set aside, with the error,
    so that the admin page shows what was not sent and why."""
    now = utcnow()
    state = JobState.FAILED.value if error else JobState.QUEUED.value
    values = item._asdict() | {"kind": item.kind.value, "destination": destination, "state": state}
    values |= {
        "attempts": 0,
        "created_at": now,
        "updated_at": now,
        "last_error": error[:ERROR_MAX_CHARS] if error else None,
    }
    statement = (
        _insert(session)(OutboxItem)
        .values(**values)
        .on_conflict_do_nothing(index_elements=[OutboxItem.destination, OutboxItem.object_uid])
    )
    return session.execute(statement.returning(OutboxItem.id)).first() is not None


def _claimable(destination: str, now: datetime) -> ColumnElement[bool]:
    due = and_(
        OutboxItem.state == JobState.QUEUED.value, or_(OutboxItem.next_try_at.is_(None), OutboxItem.next_try_at <= now)
    )
    expired = and_(OutboxItem.state == JobState.RUNNING.value, OutboxItem.lease_expires_at < now)
    earlier = aliased(OutboxItem)
    waits_behind = exists().where(  # an earlier version of the same study's report is still pending here
        earlier.destination == OutboxItem.destination,
        earlier.study_id == OutboxItem.study_id,
        earlier.kind == OutboxItem.kind,
        earlier.id < OutboxItem.id,
        earlier.state.in_(PENDING),
    )
    in_order = and_(OutboxItem.kind.in_(ORDERED_KINDS), waits_behind)
    return and_(OutboxItem.destination == destination, or_(due, expired), ~in_order)


def has_due_item(session: Session, destination: str) -> bool:
    """Whether a claim for ``destination`` would find an item (a cheap read before a write transaction)."""
    return session.scalar(select(OutboxItem.id).where(_claimable(destination, utcnow())).limit(1)) is not None


def next_due_in(session: Session, destination: str) -> float | None:
    """Seconds until the first queued item of ``destination`` comes due; None when none is queued."""
    pending = and_(OutboxItem.destination == destination, OutboxItem.state == JobState.QUEUED.value)
    first = session.scalar(
        select(func.min(func.coalesce(OutboxItem.next_try_at, OutboxItem.created_at))).where(pending)
    )
    if first is None:
        return None
    return max((as_utc(first) - utcnow()).total_seconds(), 0.0)


def claim_item(
    session: Session, destination: str, owner: str, *, lease_s: float = DEFAULT_LEASE_S
) -> ClaimedItem | None:
    """Lease the item of ``destination`` due the longest to ``owner`` for ``lease_s`` seconds; None when none is due."""
    now = utcnow()
    # longest due first (a new item before one retried again and again): every item gets its turn
    due_since = func.coalesce(OutboxItem.next_try_at, OutboxItem.created_at)
    oldest = select(OutboxItem).where(_claimable(destination, now)).order_by(due_since, OutboxItem.id).limit(1)
    item = session.scalar(oldest.with_for_update(skip_locked=True))
    if item is None:
        return None
    item.state, item.attempts, item.leased_by = JobState.RUNNING.value, item.attempts + 1, owner
    item.lease_expires_at, item.updated_at = now + timedelta(seconds=lease_s), now
    session.flush()
    kind = OutboxKind(item.kind)
    return ClaimedItem(
        item.id, destination, kind, item.object_uid, item.payload_path, item.payload_text, item.attempts, owner
    )


def finish_item(session: Session, item: ClaimedItem) -> None:
    """Mark ``item`` sent; raises :class:`OutboxLeaseLostError` when ``item.owner`` no longer holds it."""
    now = utcnow()
    values: dict[str, Any] = {"state": JobState.DONE.value, "lease_expires_at": None, "updated_at": now}
    result = session.execute(update(OutboxItem).where(*_held(item)).values(**values, sent_at=now, last_error=None))
    if not result.rowcount:  # type: ignore[attr-defined]
        raise _lost(item)


def fail_item(
    session: Session, item: ClaimedItem, message: str, *, retryable: bool, base_s: float, cap_s: float
) -> datetime | None:
    """Record a failed attempt: retryable ones are queued again after the backoff (when: returned);
    others are set aside (None). Raises :class:`OutboxLeaseLostError` when the item is no longer held."""
    held = session.scalar(select(OutboxItem).where(*_held(item)).with_for_update())
    if held is None:
        raise _lost(item)
    now = utcnow()
    held.leased_by, held.lease_expires_at, held.updated_at = None, None, now
    held.last_error = message[:ERROR_MAX_CHARS]
    if not retryable:
        held.state, held.next_try_at = JobState.FAILED.value, None
        return None
    held.state = JobState.QUEUED.value
    held.next_try_at = now + timedelta(seconds=backoff_s(max(held.attempts - 1, 0), base_s=base_s, cap_s=cap_s))
    return held.next_try_at


def retry_item(session: Session, item_id: int) -> OutboxItem:
    """Queue item ``item_id`` to be sent at once (the admin page's retry); a sent item is left as it is.

    Raises
    ------
    NotFoundError
        No such item.
    """
    item = session.get(OutboxItem, item_id, with_for_update=True)
    if item is None:
        raise NotFoundError(f"outbox item {item_id}: not found; expected an item of the admin page")
    if item.state in (JobState.QUEUED.value, JobState.FAILED.value):
        item.state, item.next_try_at, item.updated_at = JobState.QUEUED.value, None, utcnow()
    return item


def report_sr_paths(session: Session, report_id: int) -> list[str]:
    """The files of the report SRs already queued for ``report_id``, oldest first (one per object, any destination)."""
    query = (
        select(OutboxItem.payload_path, func.min(OutboxItem.id))
        .where(OutboxItem.report_id == report_id, OutboxItem.kind == OutboxKind.REPORT_SR.value)
        .where(OutboxItem.payload_path.is_not(None))
        .group_by(OutboxItem.payload_path)
    )
    return [str(path) for path, _ in sorted(session.execute(query), key=lambda row: row[1])]


def outbox_rows(session: Session, *, limit: int = 200) -> list[OutboxRow]:
    """Items newest first: those not sent yet before those sent."""
    columns = (
        OutboxItem.id,
        OutboxItem.destination,
        OutboxItem.kind,
        OutboxItem.object_uid,
        OutboxItem.study_id,
        OutboxItem.state,
        OutboxItem.attempts,
        OutboxItem.last_error,
        OutboxItem.next_try_at,
        OutboxItem.created_at,
        OutboxItem.sent_at,
    )
    sent_last = (OutboxItem.state == JobState.DONE.value).asc()
    rows = session.execute(select(*columns).order_by(sent_last, OutboxItem.id.desc()).limit(limit))
    return [OutboxRow._make(row) for row in rows]


def count_by_state(session: Session, destination: str | None = None) -> dict[str, int]:
    """How many items are in each state (of one destination, or all)."""
    query = select(OutboxItem.state, func.count()).group_by(OutboxItem.state)
    if destination is not None:
        query = query.where(OutboxItem.destination == destination)
    return {state: int(n) for state, n in session.execute(query)}


def _held(item: ClaimedItem) -> tuple[ColumnElement[bool], ...]:
    return OutboxItem.id == item.id, OutboxItem.state == JobState.RUNNING.value, OutboxItem.leased_by == item.owner


def _lost(item: ClaimedItem) -> OutboxLeaseLostError:
    return OutboxLeaseLostError(
        f"outbox item {item.id} ({item.kind.value} to {item.destination}) is no longer leased to {item.owner}; "
        "expected to hold it"
    )
