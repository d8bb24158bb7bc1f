"""The durable work queue: one job per image to read, claimed by any number of worker processes.

A worker claims a job in one short write transaction and holds it under a lease
(``lease_expires_at``, renewed while it works). On PostgreSQL the claim selects with
``FOR UPDATE SKIP LOCKED``, so concurrent claimers skip each other's rows; on SQLite the write
transaction (BEGIN IMMEDIATE) already serialises them. A running job whose lease has expired
(its worker died) is claimable again and that attempt counts; after ``max_attempts`` the job is
set aside as failed, with its error, and its image marked failed, never blocking the rest.

A result is stored in the same transaction that marks the job done, and only while the worker
still holds the lease (:func:`finish_job`), so every image is read into the database at most
once per job, and at least once while attempts remain.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from januscxr.errors import ConflictError
from januscxr.storage.studies import get_image, pending_images, record_ai_failure
from januscxr.storage.tables import Image, Job, JobState, utcnow

DEFAULT_LEASE_S = 300.0
DEFAULT_MAX_ATTEMPTS = 3
ACTIVE = (JobState.QUEUED.value, JobState.RUNNING.value)


class LeaseLostError(ConflictError):
    """The worker's lease on a job ended and the job is no longer its own: its result is discarded."""


class ClaimedJob(NamedTuple):
    """A job a worker holds: read ``image_id``; ``attempt`` counts from 1."""

    id: int
    image_id: int
    attempt: int
    owner: str


class FailedJob(NamedTuple):
    """A job set aside after its attempts, for the admin page."""

    id: int
    image_id: int
    study_id: int
    attempts: int
    last_error: str | None
    updated_at: datetime


def enqueue_job(session: Session, image_id: int, *, max_attempts: int = DEFAULT_MAX_ATTEMPTS) -> None:
    """Queue ``image_id`` for reading; a job already queued or running is left as it is, a
    finished or failed one is queued again with its attempts reset."""
    now = utcnow()
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    again = {"state": JobState.QUEUED.value, "attempts": 0, "max_attempts": max_attempts, "updated_at": now}
    statement = (
        insert(Job)
        .values(image_id=image_id, created_at=now, **again)
        .on_conflict_do_update(
            index_elements=[Job.image_id],
            set_={**again, "lease_expires_at": None, "leased_by": None, "last_error": None},
            where=Job.__table__.c.state.not_in(ACTIVE),
        )
    )
    session.execute(statement)


def enqueue_pending(session: Session, *, max_attempts: int = DEFAULT_MAX_ATTEMPTS) -> list[int]:
    """Queue every image still waiting for a read that has no queued or running job; their ids."""
    active = set(session.scalars(select(Job.image_id).where(Job.state.in_(ACTIVE))))
    ids = [image.id for image in pending_images(session) if image.id not in active]
    for image_id in ids:
        enqueue_job(session, image_id, max_attempts=max_attempts)
    return ids


def _claimable(now: datetime) -> ColumnElement[bool]:
    expired = and_(Job.state == JobState.RUNNING.value, Job.lease_expires_at < now)
    return or_(Job.state == JobState.QUEUED.value, expired)


def has_claimable_job(session: Session) -> bool:
    """Whether a claim would find work (a cheap read before a write transaction)."""
    return session.scalar(select(Job.id).where(_claimable(utcnow())).limit(1)) is not None


def claim_job(session: Session, owner: str, *, lease_s: float = DEFAULT_LEASE_S) -> ClaimedJob | None:
    """Lease the oldest claimable job to ``owner`` for ``lease_s`` seconds; None when there is none.

    A job whose previous worker died with its last attempt is failed here instead (the image
    marked failed), and the next job is tried.
    """
    while True:
        now = utcnow()
        oldest = select(Job).where(_claimable(now)).order_by(Job.id).limit(1)
        job = session.scalar(oldest.with_for_update(skip_locked=True))
        if job is None:
            return None
        if job.attempts >= job.max_attempts:
            message = f"AI failed: the AI stopped {job.attempts} time(s) while reading this image; it was set aside."
            _set_aside(session, job, message, now=now)
            continue
        job.state, job.attempts, job.leased_by = JobState.RUNNING.value, job.attempts + 1, owner
        job.lease_expires_at, job.updated_at = now + timedelta(seconds=lease_s), now
        session.flush()
        return ClaimedJob(job.id, job.image_id, job.attempts, owner)


def renew_lease(session: Session, job: ClaimedJob, *, lease_s: float = DEFAULT_LEASE_S) -> bool:
    """Extend the lease of a job ``job.owner`` still holds; False when it lost the job."""
    now = utcnow()
    values: dict[str, Any] = {"lease_expires_at": now + timedelta(seconds=lease_s), "updated_at": now}
    result = session.execute(update(Job).where(*_held(job)).values(**values))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def finish_job(session: Session, job: ClaimedJob) -> None:
    """Mark the job done; raises :class:`LeaseLostError` (rolling back whatever else the
    transaction stored) when ``job.owner`` no longer holds it. Call it before storing the result."""
    now = utcnow()
    values: dict[str, Any] = {"state": JobState.DONE.value, "lease_expires_at": None, "updated_at": now}
    result = session.execute(update(Job).where(*_held(job)).values(**values))
    if not result.rowcount:  # type: ignore[attr-defined]
        raise _lost(job)


def fail_attempt(session: Session, job: ClaimedJob, message: str) -> bool:
    """Record a failed attempt with ``message``: the job is queued again, or after its last
    attempt set aside as failed with its image marked failed. Returns whether it was the last."""
    held = session.scalar(select(Job).where(*_held(job)).with_for_update())
    if held is None:
        raise _lost(job)
    now = utcnow()
    if held.attempts >= held.max_attempts:
        _set_aside(session, held, message, now=now)
        return True
    held.state, held.leased_by, held.lease_expires_at = JobState.QUEUED.value, None, None
    held.last_error, held.updated_at = message, now
    return False


def _lost(job: ClaimedJob) -> LeaseLostError:
    return LeaseLostError(
        f"job {job.id} (image {job.image_id}) is no longer leased to {job.owner}; expected to hold it"
    )


def _held(job: ClaimedJob) -> tuple[ColumnElement[bool], ...]:
    return Job.id == job.id, Job.state == JobState.RUNNING.value, Job.leased_by == job.owner


def _set_aside(session: Session, job: Job, message: str, *, now: datetime) -> None:
    job.state, job.leased_by, job.lease_expires_at = JobState.FAILED.value, None, None
    job.last_error, job.updated_at = message, now
    record_ai_failure(session, get_image(session, job.image_id), message)
    session.flush()


def count_active_jobs(session: Session) -> int:
    """Jobs queued or running."""
    return session.scalar(select(func.count()).select_from(Job).where(Job.state.in_(ACTIVE))) or 0


def failed_jobs(session: Session, *, limit: int = 100) -> list[FailedJob]:
    """Jobs set aside after their attempts, newest first."""
    columns = (Job.id, Job.image_id, Image.study_id, Job.attempts, Job.last_error, Job.updated_at)
    query = select(*columns).join(Image, Image.id == Job.image_id).where(Job.state == JobState.FAILED.value)
    return [FailedJob._make(row) for row in session.execute(query.order_by(Job.updated_at.desc()).limit(limit))]
