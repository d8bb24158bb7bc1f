"""Reading sessions (active reading time per reader and case) and the study mode's reads.

A reader has one clinical and one study-mode session per study: every function here takes the
mode (``study_mode``) and touches only sessions of that mode, so switching study mode on or off
never reuses a session of the other mode. A study-mode session always carries its arm.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import Session

from januscxr.errors import NotFoundError, ReportStateError, StorageError
from januscxr.storage.reports import CLINICAL
from januscxr.storage.tables import ReadingSession, Report, Study, User, utcnow


@dataclass(frozen=True)
class StudyRead:
    """One signed read in study mode, with the expert panel's scores where entered.

    ``missing`` says why the reads CSV cannot hold it (None when it does): a read is in the
    export when it has a study-mode reading session with an arm and a signed time, and a signed report.
    """

    reading_id: int | None
    report_id: int | None
    study_id: int
    case_id: str
    reader_id: str
    arm: str | None
    reading_time_s: float | None
    quality_score: int | None
    agreement_score: float | None
    expert_preference: str | None
    n_findings: int | None
    signed_at: datetime | None
    missing: str | None = None

    @property
    def in_export(self) -> bool:
        return self.missing is None


def _mine(study_id: int, user: User, study_mode: bool) -> ColumnElement[bool]:
    return (
        (ReadingSession.study_id == study_id)
        & (ReadingSession.user_id == user.id)
        & (ReadingSession.study_mode.is_(study_mode))
    )


def open_reading(
    session: Session, study: Study, user: User, *, study_mode: bool, arm: str | None = None
) -> ReadingSession:
    """The reader's session on the study in this mode, started at the first opening; ``arm``
    is required in study mode and refused outside it."""
    if study_mode != (arm is not None):
        raise StorageError(
            f"reading session of study {study.id}: received arm {arm!r} with study_mode={study_mode}; "
            "expected an arm in study mode and none outside it"
        )
    reading = session.scalar(select(ReadingSession).where(_mine(study.id, user, study_mode)))
    if reading is None:
        reading = ReadingSession(study_id=study.id, user_id=user.id, arm=arm, study_mode=study_mode)
        session.add(reading)
        session.flush()
    return reading


def add_active_time(session: Session, study_id: int, user: User, *, study_mode: bool, active_ms: int) -> None:
    """Add active milliseconds reported by the page, until the read is signed."""
    session.execute(
        update(ReadingSession)
        .where(_mine(study_id, user, study_mode), ReadingSession.signed_at.is_(None))
        .values(active_ms=ReadingSession.active_ms + max(0, active_ms), last_activity_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def close_reading(session: Session, study_id: int, user: User, *, study_mode: bool) -> None:
    """Stop the clock: the reader signed."""
    session.execute(
        update(ReadingSession)
        .where(_mine(study_id, user, study_mode), ReadingSession.signed_at.is_(None))
        .values(signed_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def get_reading(session: Session, study_id: int, user: User, *, study_mode: bool) -> ReadingSession | None:
    return session.scalar(select(ReadingSession).where(_mine(study_id, user, study_mode)))


def rate_read(session: Session, reading_id: int, *, quality_score: int, agreement_score: float) -> None:
    """The expert panel's scores of one signed study-mode read."""
    reading = session.get(ReadingSession, reading_id)
    if reading is None or not reading.study_mode:
        raise NotFoundError(f"no study-mode read with id {reading_id}")
    if reading.signed_at is None:
        raise ReportStateError(f"read {reading_id} is not signed yet; expected a signed read to score")
    reading.quality_score, reading.agreement_score = quality_score, agreement_score


def set_case_reference(session: Session, study_id: int, *, expert_preference: str, n_findings: int) -> None:
    """The expert panel's preference and reference finding count for a case."""
    study = session.get(Study, study_id)
    if study is None:
        raise NotFoundError(f"no study with id {study_id}")
    study.expert_preference, study.reference_n_findings = expert_preference, n_findings


def study_reads(session: Session) -> list[StudyRead]:
    """Every signed study-mode read, oldest first, each saying whether the reads CSV holds it.

    A read is a reader's signed study-mode report or a signed study-mode session; the two are
    matched by (study, reader), so a report whose session is missing or unsigned is listed too."""
    reports = session.execute(
        select(Report, Study, User)
        .join(Study, Study.id == Report.study_id)
        .join(User, User.id == Report.reader_key)
        .where(Report.reader_key != CLINICAL, Report.signed_at.is_not(None))
    ).all()
    sessions = session.execute(
        select(ReadingSession, Study, User)
        .join(Study, Study.id == ReadingSession.study_id)
        .join(User, User.id == ReadingSession.user_id)
        .where(ReadingSession.study_mode.is_(True))
    ).all()
    by_key = {(r.study_id, r.user_id): r for r, _, _ in sessions}
    reads = [_study_read(study, user, by_key.get((study.id, user.id)), report) for report, study, user in reports]
    signed_reports = {(report.study_id, report.reader_key) for report, _, _ in reports}
    reads += [
        _study_read(study, user, r, None)
        for r, study, user in sessions
        if r.signed_at is not None and (r.study_id, r.user_id) not in signed_reports
    ]
    return sorted(reads, key=lambda r: (_naive(r.signed_at), r.reading_id or 0, r.report_id or 0))


def _study_read(study: Study, user: User, reading: ReadingSession | None, report: Report | None) -> StudyRead:
    signed_at = reading.signed_at if reading and reading.signed_at else report.signed_at if report else None
    return StudyRead(
        reading_id=reading.id if reading else None,
        report_id=report.id if report else None,
        study_id=study.id,
        case_id=study.study_instance_uid,
        reader_id=user.username,
        arm=reading.arm if reading else None,
        reading_time_s=round(reading.active_ms / 1000.0, 3) if reading else None,
        quality_score=reading.quality_score if reading else None,
        agreement_score=reading.agreement_score if reading else None,
        expert_preference=study.expert_preference,
        n_findings=study.reference_n_findings,
        signed_at=signed_at,
        missing=_missing(reading, report),
    )


def _missing(reading: ReadingSession | None, report: Report | None) -> str | None:
    """Why the reads CSV cannot hold this read, or None."""
    if reading is None:
        return "no study-mode reading session (the case was opened before study mode was switched on)"
    if reading.arm is None:
        return f"reading session {reading.id} has no arm"
    if reading.signed_at is None:
        return f"reading session {reading.id} has no signed time"
    if report is None:
        return "the reader's study-mode report is not signed"
    return None


def _naive(moment: datetime | None) -> datetime:
    """Sort key: SQLite gives naive UTC datetimes, PostgreSQL aware ones."""
    if moment is None:
        return datetime.min
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment
