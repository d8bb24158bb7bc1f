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

Study completion: an instance received over the network is queued with ``quiet_s``, the time its
study must go without a new instance before it is read. Its job, and every queued job of the same
study, is held back until then (``not_before``); each new instance pushes that time forward, so a
study sent as a burst is read once the burst is over. :func:`next_due_in` tells an idle worker
how long to sleep until a held-back job comes due.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from januscxr.errors import ConflictError
from januscxr.storage.studies import get_image, pending_images, record_ai_failure
from januscxr.storage.tables import Image, Job, JobState, Study, utcnow
from januscxr.storage.users import as_utc

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


def enqueue_job(
    session: Session, image_id: int, *, max_attempts: int = DEFAULT_MAX_ATTEMPTS, quiet_s: float = 0.0
) -> None:
    """Queue ``image_id`` for reading; a job already queued or running is left as it is, a
    finished or failed one is queued again with its attempts reset.

    With ``quiet_s`` > 0 the image's study is read only after ``quiet_s`` seconds without a new
    instance: this job and the study's other queued jobs are held back until then."""
    if quiet_s > 0:
        _lock_study(session, image_id)  # before reading the clock: a study's instances push in arrival order
    now = utcnow()
    not_before = now + timedelta(seconds=quiet_s) if quiet_s > 0 else None
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    again = {"state": JobState.QUEUED.value, "attempts": 0, "max_attempts": max_attempts, "updated_at": now}
    statement = (
        insert(Job)
        .values(image_id=image_id, created_at=now, not_before=not_before, **again)
        .on_conflict_do_update(
            index_elements=[Job.image_id],
            set_={**again, "not_before": not_before, "lease_expires_at": None, "leased_by": None, "last_error": None},
            where=Job.__table__.c.state.not_in(ACTIVE),
        )
    )
    if not_before is not None:
        hold_study_jobs(session, image_id, until=not_before)
    session.execute(statement)


def hold_study_jobs(session: Session, image_id: int, *, until: datetime) -> int:
    """Hold back every queued job of ``image_id``'s study until ``until`` (never bringing one
    forward); how many were pushed. Running jobs are not stopped: a late instance is read again."""
    study_id = _lock_study(session, image_id)
    study_images = select(Image.id).where(Image.study_id == study_id)
    earlier = or_(Job.not_before.is_(None), Job.not_before < until)
    statement = (
        update(Job)
        .where(Job.state == JobState.QUEUED.value, Job.image_id.in_(study_images), earlier)
        .values(not_before=until)
        .execution_options(synchronize_session=False)
    )
    return int(session.execute(statement).rowcount)  # type: ignore[attr-defined]


def _lock_study(session: Session, image_id: int) -> int | None:
    """Lock the study of ``image_id``; its id. One instance of a study at a time (a row lock on
    PostgreSQL; SQLite's write lock already is): two arriving together never deadlock on each other's jobs."""
    study_id = session.scalar(select(Image.study_id).where(Image.id == image_id))
    session.scalar(select(Study.id).where(Study.id == study_id).with_for_update())
    return study_id


def enqueue_pending(session: Session, *, max_attempts: int = DEFAULT_MAX_ATTEMPTS) -> list[int]:
    """Queue every image still waiting for a read that has no queued or running job; their ids."""
    active = set(session.scalars(select(Job.image_id).where(Job.state.in_(ACTIVE))))
    ids = [image.id for image in pending_images(session) if image.id not in active]
    for image_id in ids:
        enqueue_job(session, image_id, max_attempts=max_attempts)
    return ids


def _claimable(now: datetime) -> ColumnElement[bool]:
    expired = and_(Job.state == JobState.RUNNING.value, Job.lease_expires_at < now)
    due = and_(Job.state == JobState.QUEUED.value, or_(Job.not_before.is_(None), Job.not_before <= now))
    return or_(due, expired)


def has_claimable_job(session: Session) -> bool:
    """Whether a claim would find work (a cheap read before a write transaction)."""
    return session.scalar(select(Job.id).where(_claimable(utcnow())).limit(1)) is not None


def next_due_in(session: Session) -> float | None:
    """Seconds until the first held-back queued job comes due (0 when one already is); None when none waits."""
    now = utcnow()
    first = session.scalar(select(func.min(Job.not_before)).where(Job.state == JobState.QUEUED.value))
    if first is None:
        return None
    return max((as_utc(first) - now).total_seconds(), 0.0)


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
