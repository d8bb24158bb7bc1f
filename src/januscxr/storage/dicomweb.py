"""DICOMweb polling state: each server's QIDO cursor and status, and a claim per study found on it.

QIDO-RS has no "received since": the poller asks for studies dated from its cursor (the newest
Study Date seen) minus an overlap, so it sees the same studies again and again. Each study is
noted once per server (a unique (server, Study Instance UID) row) and retrieved only under a
claim, like a job of the work queue (storage.jobs): claimed with a lease in one short write
transaction (PostgreSQL: ``FOR UPDATE SKIP LOCKED``; SQLite: the IMMEDIATE write lock), marked
done only while the claim is held. A retrieved study is claimed again only when a later query
reports more Number of Study Related Instances than when it was last queued (a late image, a
repeat view); the poller then fetches only the instances januscxr lacks. So no study is
retrieved twice across restarts or by two pollers at once; a claim whose poller died is taken
again once its lease has passed, and a study that keeps failing is set aside after its attempts.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from januscxr.errors import ConflictError
from januscxr.storage.tables import DicomwebServer, DicomwebStudy, Image, JobState, Study, utcnow

DEFAULT_LEASE_S = 300.0
DEFAULT_MAX_ATTEMPTS = 5
ERROR_MAX_CHARS = 2000


class StudyClaimLostError(ConflictError):
    """The poller's lease on a study ended and another poller may hold it: the claim is void."""


class FoundStudy(NamedTuple):
    """A study a QIDO-RS query returned (the instance count where the server gave it)."""

    study_instance_uid: str
    study_date: str | None
    number_of_study_related_instances: int | None = None


class ClaimedStudy(NamedTuple):
    """A study a poller holds: retrieve ``study_instance_uid``; ``attempt`` counts from 1."""

    id: int
    server_name: str
    study_instance_uid: str
    attempt: int
    owner: str


class ServerStatus(NamedTuple):
    """How polling a server goes, for the admin page."""

    name: str
    cursor_study_date: str | None
    failures: int
    last_success_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    next_poll_at: datetime | None
    queued: int
    retrieved: int
    set_aside: int


class SetAsideStudy(NamedTuple):
    """A study whose retrieval failed on every attempt, for the admin page."""

    server_name: str
    study_instance_uid: str
    attempts: int
    last_error: str | None
    updated_at: datetime


def _insert(session: Session) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def note_server(session: Session, name: str) -> None:
    """Make sure ``name`` has a status row (a no-op when it has one)."""
    session.execute(_insert(session)(DicomwebServer).values(name=name, failures=0).on_conflict_do_nothing())


def server_cursor(session: Session, name: str) -> str | None:
    """The newest Study Date (YYYYMMDD) seen on ``name``; None before its first successful poll."""
    return session.scalar(select(DicomwebServer.cursor_study_date).where(DicomwebServer.name == name))


def next_poll_at(session: Session, name: str) -> datetime | None:
    """When ``name`` is due to be polled again (after a failure: after the backoff); UTC."""
    moment = session.scalar(select(DicomwebServer.next_poll_at).where(DicomwebServer.name == name))
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment  # SQLite: naive


def note_studies(session: Session, name: str, found: Iterable[FoundStudy]) -> int:
    """Queue each study not yet noted for ``name`` (retrieved, running or set aside ones are left
    alone); returns how many were new."""
    note_server(session, name)
    now, new = utcnow(), 0
    for study in found:
        values = {
            "server_name": name,
            "study_instance_uid": study.study_instance_uid,
            "study_date": study.study_date,
            "number_of_study_related_instances": study.number_of_study_related_instances,
        }
        statement = (
            _insert(session)(DicomwebStudy)
            .values(**values, state=JobState.QUEUED.value, attempts=0, instances=0, created_at=now, updated_at=now)
            .on_conflict_do_nothing(index_elements=[DicomwebStudy.server_name, DicomwebStudy.study_instance_uid])
        )
        new += session.execute(statement.returning(DicomwebStudy.id)).first() is not None
    return new


def requeue_grown_studies(session: Session, name: str, found: Iterable[FoundStudy]) -> int:
    """Queue again each retrieved study of ``name`` that now has more instances than when it was
    last queued (unknown counts, from before they were kept, count as fewer); a queued study just
    takes the new count, a running or set-aside one is left alone. Returns how many were queued again."""
    counts = {
        study.study_instance_uid: study.number_of_study_related_instances
        for study in found
        if study.number_of_study_related_instances is not None
    }
    seen = DicomwebStudy.number_of_study_related_instances
    known = select(DicomwebStudy.study_instance_uid, seen).where(
        DicomwebStudy.server_name == name,
        DicomwebStudy.study_instance_uid.in_(counts),
        DicomwebStudy.state.in_([JobState.QUEUED.value, JobState.DONE.value]),
    )
    now, requeued = utcnow(), 0
    for uid, count in session.execute(known):
        if count is not None and count >= counts[uid]:
            continue
        grown = update(DicomwebStudy).where(  # checked again here: another poller may have moved it on
            DicomwebStudy.server_name == name,
            DicomwebStudy.study_instance_uid == uid,
            or_(seen.is_(None), seen < counts[uid]),
        )
        session.execute(grown.where(DicomwebStudy.state == JobState.QUEUED.value).values({seen: counts[uid]}))
        again = {"state": JobState.QUEUED.value, "attempts": 0, "next_try_at": None, "last_error": None}
        again |= {"number_of_study_related_instances": counts[uid], "updated_at": now}
        result = session.execute(grown.where(DicomwebStudy.state == JobState.DONE.value).values(**again))
        requeued += result.rowcount  # type: ignore[attr-defined]
    return requeued


def stored_instance_uids(session: Session, study_instance_uid: str) -> set[str]:
    """The SOP Instance UIDs januscxr already holds of a study (from any source)."""
    query = select(Image.sop_instance_uid).join(Study).where(Study.study_instance_uid == study_instance_uid)
    return set(session.scalars(query))


def record_poll(
    session: Session,
    name: str,
    *,
    cursor_study_date: str | None,
    next_poll_at: datetime,
    problem: str | None = None,
) -> None:
    """A successful poll: failures reset, the cursor moved forward (never back) to ``cursor_study_date``;
    ``problem`` (what the server answered wrong, without failing the poll) becomes the last error."""
    note_server(session, name)
    server = session.get_one(DicomwebServer, name, with_for_update=True)
    if cursor_study_date and (server.cursor_study_date or "") < cursor_study_date:
        server.cursor_study_date = cursor_study_date
    server.failures, server.last_success_at, server.next_poll_at = 0, utcnow(), next_poll_at
    if problem:
        server.last_error, server.last_error_at = problem[:ERROR_MAX_CHARS], server.last_success_at


def record_poll_failure(session: Session, name: str, message: str, *, base_s: float, cap_s: float) -> datetime:
    """A failed poll: one more consecutive failure; the next poll waits :func:`backoff_s`. Returns when."""
    note_server(session, name)
    server = session.get_one(DicomwebServer, name, with_for_update=True)
    now = utcnow()
    server.failures += 1
    server.last_error, server.last_error_at = message[:ERROR_MAX_CHARS], now
    server.next_poll_at = now + timedelta(seconds=backoff_s(server.failures, base_s=base_s, cap_s=cap_s))
    return server.next_poll_at


def backoff_s(failures: int, *, base_s: float, cap_s: float) -> float:
    """Seconds before the next try after ``failures`` consecutive failures: base_s * 2^failures, at most cap_s."""
    return float(min(cap_s, base_s * 2.0 ** min(failures, 32)))


def _claimable(name: str, now: datetime) -> ColumnElement[bool]:
    queued = and_(
        DicomwebStudy.state == JobState.QUEUED.value,
        or_(DicomwebStudy.next_try_at.is_(None), DicomwebStudy.next_try_at <= now),
    )
    expired = and_(DicomwebStudy.state == JobState.RUNNING.value, DicomwebStudy.lease_expires_at < now)
    return and_(DicomwebStudy.server_name == name, or_(queued, expired))


def claim_study(
    session: Session,
    name: str,
    owner: str,
    *,
    lease_s: float = DEFAULT_LEASE_S,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
) -> ClaimedStudy | None:
    """Lease the oldest claimable study of server ``name`` to ``owner``; None when there is none.

    A study whose poller died during its last attempt is set aside here instead, and the next
    study is tried.
    """
    while True:
        now = utcnow()
        oldest = select(DicomwebStudy).where(_claimable(name, now)).order_by(DicomwebStudy.id).limit(1)
        study = session.scalar(oldest.with_for_update(skip_locked=True))
        if study is None:
            return None
        if study.attempts >= max_attempts:
            _set_aside(study, f"the poller stopped {study.attempts} time(s) while retrieving this study", now=now)
            continue
        study.state, study.attempts, study.leased_by = JobState.RUNNING.value, study.attempts + 1, owner
        study.lease_expires_at, study.updated_at = now + timedelta(seconds=lease_s), now
        session.flush()
        return ClaimedStudy(study.id, name, study.study_instance_uid, study.attempts, owner)


def finish_study(session: Session, claim: ClaimedStudy, *, instances: int, note: str | None = None) -> None:
    """Mark the claimed study retrieved (``instances`` more handed to ingest; ``note`` says what was
    refused); raises :class:`StudyClaimLostError` when ``claim.owner`` no longer holds it."""
    values: dict[str, Any] = {"state": JobState.DONE.value, "lease_expires_at": None, "updated_at": utcnow()}
    values |= {"instances": DicomwebStudy.instances + instances, "last_error": note[:ERROR_MAX_CHARS] if note else None}
    result = session.execute(update(DicomwebStudy).where(*_held(claim)).values(**values))
    if not result.rowcount:  # type: ignore[attr-defined]
        raise _lost(claim)


def fail_study(
    session: Session,
    claim: ClaimedStudy,
    message: str,
    *,
    retry_in_s: float,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    counted: bool = True,
) -> bool:
    """Record a failed retrieval: the study is queued again after ``retry_in_s``, or after its last
    attempt set aside. ``counted=False`` (the server, not the study, failed) gives the attempt
    back. Returns whether the study was set aside."""
    study = session.scalar(select(DicomwebStudy).where(*_held(claim)).with_for_update())
    if study is None:
        raise _lost(claim)
    now = utcnow()
    if not counted:
        study.attempts -= 1
    if study.attempts >= max_attempts:
        _set_aside(study, message, now=now)
        return True
    study.state, study.leased_by, study.lease_expires_at = JobState.QUEUED.value, None, None
    study.last_error, study.updated_at = message[:ERROR_MAX_CHARS], now
    study.next_try_at = now + timedelta(seconds=retry_in_s)
    return False


def _set_aside(study: DicomwebStudy, message: str, *, now: datetime) -> None:
    study.state, study.leased_by, study.lease_expires_at = JobState.FAILED.value, None, None
    study.last_error, study.updated_at = message[:ERROR_MAX_CHARS], now


def _held(claim: ClaimedStudy) -> tuple[ColumnElement[bool], ...]:
    return (
        DicomwebStudy.id == claim.id,
        DicomwebStudy.state == JobState.RUNNING.value,
        DicomwebStudy.leased_by == claim.owner,
    )


def _lost(claim: ClaimedStudy) -> StudyClaimLostError:
    return StudyClaimLostError(
        f"study {claim.study_instance_uid} of DICOMweb server {claim.server_name} is no longer leased to "
        f"{claim.owner}; expected to hold it"
    )


def server_statuses(session: Session) -> list[ServerStatus]:
    """Every polled server with its counts of queued (or running), retrieved and set-aside studies."""
    by_state = select(DicomwebStudy.server_name, DicomwebStudy.state, func.count()).group_by(
        DicomwebStudy.server_name, DicomwebStudy.state
    )
    counts = {(server_name, state): int(n) for server_name, state, n in session.execute(by_state)}
    statuses = []
    for server in session.scalars(select(DicomwebServer).order_by(DicomwebServer.name)):
        active = counts.get((server.name, JobState.QUEUED.value), 0) + counts.get(
            (server.name, JobState.RUNNING.value), 0
        )
        retrieved = counts.get((server.name, JobState.DONE.value), 0)
        failed = counts.get((server.name, JobState.FAILED.value), 0)
        statuses.append(
            ServerStatus(
                server.name,
                server.cursor_study_date,
                server.failures,
                server.last_success_at,
                server.last_error,
                server.last_error_at,
                server.next_poll_at,
                active,
                retrieved,
                failed,
            )
        )
    return statuses


def set_aside_studies(session: Session, *, limit: int = 100) -> list[SetAsideStudy]:
    """Studies set aside after their attempts, newest first."""
    columns = (
        DicomwebStudy.server_name,
        DicomwebStudy.study_instance_uid,
        DicomwebStudy.attempts,
        DicomwebStudy.last_error,
        DicomwebStudy.updated_at,
    )
    query = select(*columns).where(DicomwebStudy.state == JobState.FAILED.value)
    rows = session.execute(query.order_by(DicomwebStudy.updated_at.desc()).limit(limit))
    return [SetAsideStudy._make(row) for row in rows]
