"""Reading sessions (active reading time per reader and case) and the study mode's reads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from januscxr.errors import NotFoundError
from januscxr.storage.tables import ReadingSession, Study, User, utcnow


@dataclass(frozen=True)
class StudyRead:
    """One signed read in study mode, with the expert panel's scores where entered."""

    reading_id: int
    case_id: str
    reader_id: str
    arm: str
    reading_time_s: float
    quality_score: int | None
    agreement_score: float | None
    expert_preference: str | None
    n_findings: int | None
    signed_at: datetime | None


def open_reading(session: Session, study: Study, user: User, *, arm: str | None = None) -> ReadingSession:
    """The reader's session on the study, started at the first opening (``arm`` in study mode)."""
    reading = session.scalar(
        select(ReadingSession).where(ReadingSession.study_id == study.id, ReadingSession.user_id == user.id)
    )
    if reading is None:
        reading = ReadingSession(study_id=study.id, user_id=user.id, arm=arm)
        session.add(reading)
        session.flush()
    return reading


def add_active_time(session: Session, study_id: int, user: User, *, active_ms: int) -> None:
    """Add active milliseconds reported by the page, until the read is signed."""
    session.execute(
        update(ReadingSession)
        .where(
            ReadingSession.study_id == study_id,
            ReadingSession.user_id == user.id,
            ReadingSession.signed_at.is_(None),
        )
        .values(active_ms=ReadingSession.active_ms + max(0, active_ms), last_activity_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def close_reading(session: Session, study_id: int, user: User) -> None:
    """Stop the clock: the reader signed."""
    session.execute(
        update(ReadingSession)
        .where(
            ReadingSession.study_id == study_id,
            ReadingSession.user_id == user.id,
            ReadingSession.signed_at.is_(None),
        )
        .values(signed_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def get_reading(session: Session, study_id: int, user: User) -> ReadingSession | None:
    return session.scalar(
        select(ReadingSession).where(ReadingSession.study_id == study_id, ReadingSession.user_id == user.id)
    )


def rate_read(session: Session, reading_id: int, *, quality_score: int, agreement_score: float) -> None:
    """The expert panel's scores of one read."""
    reading = session.get(ReadingSession, reading_id)
    if reading is None:
        raise NotFoundError(f"no reading session with id {reading_id}")
    reading.quality_score, reading.agreement_score = quality_score, agreement_score


def set_case_reference(session: Session, study_id: int, *, expert_preference: str, n_findings: int) -> None:
    """The expert panel's preference and reference finding count for a case."""
    study = session.get(Study, study_id)
    if study is None:
        raise NotFoundError(f"no study with id {study_id}")
    study.expert_preference, study.reference_n_findings = expert_preference, n_findings


def study_reads(session: Session) -> list[StudyRead]:
    """Every signed read of a study-mode case, oldest first."""
    rows = session.execute(
        select(ReadingSession, Study, User)
        .join(Study, Study.id == ReadingSession.study_id)
        .join(User, User.id == ReadingSession.user_id)
        .where(ReadingSession.signed_at.is_not(None), ReadingSession.arm.is_not(None))
        .order_by(ReadingSession.signed_at, ReadingSession.id)
    )
    return [
        StudyRead(
            reading_id=reading.id,
            case_id=study.study_instance_uid,
            reader_id=user.username,
            arm=str(reading.arm),
            reading_time_s=round(reading.active_ms / 1000.0, 3),
            quality_score=reading.quality_score,
            agreement_score=reading.agreement_score,
            expert_preference=study.expert_preference,
            n_findings=study.reference_n_findings,
            signed_at=reading.signed_at,
        )
        for reading, study, user in rows
    ]
