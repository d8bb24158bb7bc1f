"""Reports: draft -> (preliminary) -> signed -> amended, every text kept as a version.

Every save and signature names the revision it was made on; the UPDATE matches that
revision or changes nothing, so of two readers signing at once exactly one wins and the
other gets :class:`~januscxr.errors.ConflictError` (their text is kept as a ``conflict``
version by :func:`keep_conflicting_text`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from januscxr.errors import ConflictError, NotFoundError, ReportStateError
from januscxr.storage.studies import set_report_status
from januscxr.storage.tables import (
    Addendum,
    AiResult,
    Report,
    ReportStatus,
    ReportVersion,
    Role,
    Study,
    User,
    utcnow,
)

FINAL = (ReportStatus.SIGNED.value, ReportStatus.AMENDED.value)


@dataclass(frozen=True)
class ReportText:
    """The two sections a reader edits."""

    findings: str
    impression: str


CLINICAL = 0  # reader_key of a study's clinical report


def ensure_report(
    session: Session, study: Study, ai_result: AiResult | None = None, *, reader_key: int = CLINICAL
) -> Report:
    """The study's report (or a study-mode reader's); a new one starts from the AI draft, or empty."""
    report = session.scalar(select(Report).where(Report.study_id == study.id, Report.reader_key == reader_key))
    if report is not None:
        if ai_result is not None and is_untouched_and_empty(report):
            return _fill_from_ai(session, report, ai_result)
        return report
    text = ReportText(ai_result.draft_findings, ai_result.draft_impression) if ai_result else ReportText("", "")
    report = Report(
        study_id=study.id,
        reader_key=reader_key,
        findings=text.findings,
        impression=text.impression,
        ai_result_id=ai_result.id if ai_result else None,
        status=ReportStatus.DRAFT.value,
        revision=1,
    )
    session.add(report)
    session.flush()
    _add_version(session, report.id, "ai_draft" if ai_result else "draft", text, author=None)
    return report


def is_untouched_and_empty(report: Report) -> bool:
    """Opened before the model finished: no AI draft, no edit yet."""
    return (
        report.ai_result_id is None
        and report.revision == 1
        and report.status == ReportStatus.DRAFT.value
        and not report.findings
        and not report.impression
    )


def _fill_from_ai(session: Session, report: Report, ai_result: AiResult) -> Report:
    text = ReportText(ai_result.draft_findings, ai_result.draft_impression)
    values = {"findings": text.findings, "impression": text.impression, "ai_result_id": ai_result.id}
    _update_matching(session, report.id, 1, values=values)
    _add_version(session, report.id, "ai_draft", text, author=None)
    return get_report_by_id(session, report.id)


class DraftChange(StrEnum):
    """What a new AI result did to its study's clinical report (:func:`take_ai_result`)."""

    CREATED = "created"  # the study's first AI draft (or the text of a report opened before it)
    UNCHANGED = "unchanged"  # an instance received before the draft was ready: the draft stays the first read's
    REPLACED = "replaced"  # a late instance, no reader had saved or signed: the draft is now this read's
    KEPT_EDITED = "kept_edited"  # a late instance after a reader saved or signed: their text stays


def take_ai_result(session: Session, study: Study, ai_result: AiResult, *, late: bool) -> tuple[Report, DraftChange]:
    """The clinical report after ``ai_result`` was stored, and what became of its text.

    The first AI result makes the draft. A ``late`` instance (received after the study's AI read
    was ready: :func:`~januscxr.storage.studies.is_late_instance`) replaces the AI draft, as a new
    ``ai_draft`` version, only while no reader has saved or signed the report; otherwise the
    reader's text stays and the result is kept beside it. Other results leave the draft as it is.
    """
    report = find_report(session, study.id)
    if report is None or is_untouched_and_empty(report):
        return ensure_report(session, study, ai_result), DraftChange.CREATED
    if not late:
        return report, DraftChange.UNCHANGED
    if is_edited(session, report):
        return report, DraftChange.KEPT_EDITED
    text = ReportText(ai_result.draft_findings, ai_result.draft_impression)
    values = {"findings": text.findings, "impression": text.impression, "ai_result_id": ai_result.id}
    try:
        _update_matching(session, report.id, report.revision, values=values, statuses=(ReportStatus.DRAFT.value,))
    except (ConflictError, ReportStateError):  # a reader saved or signed since it was read (PostgreSQL)
        return get_report_by_id(session, report.id), DraftChange.KEPT_EDITED
    _add_version(session, report.id, "ai_draft", text, author=None)
    return get_report_by_id(session, report.id), DraftChange.REPLACED


def is_edited(session: Session, report: Report) -> bool:
    """Whether a reader has saved or signed the report: it is no longer a draft, or a version has an author."""
    if report.status != ReportStatus.DRAFT.value:
        return True
    authored = select(ReportVersion.id).where(
        ReportVersion.report_id == report.id, ReportVersion.author_id.is_not(None)
    )
    return session.scalar(authored.limit(1)) is not None


def find_report(session: Session, study_id: int, *, reader_key: int = CLINICAL) -> Report | None:
    """The report, or None when the study has none yet (for that reader)."""
    return session.scalar(select(Report).where(Report.study_id == study_id, Report.reader_key == reader_key))


def get_report(session: Session, study_id: int, *, reader_key: int = CLINICAL) -> Report:
    report = find_report(session, study_id, reader_key=reader_key)
    if report is None:
        raise NotFoundError(f"study {study_id} has no report yet")
    return report


def report_id_of(session: Session, study_id: int, *, reader_key: int = CLINICAL) -> int:
    """The report's id alone (a cheaper query than :func:`get_report`)."""
    found = session.scalar(select(Report.id).where(Report.study_id == study_id, Report.reader_key == reader_key))
    if found is None:
        raise NotFoundError(f"study {study_id} has no report yet")
    return found


def list_addenda(session: Session, report_id: int) -> list[Addendum]:
    return list(session.scalars(select(Addendum).where(Addendum.report_id == report_id).order_by(Addendum.id)))


def get_report_by_id(session: Session, report_id: int) -> Report:
    report = session.get(Report, report_id, populate_existing=True)
    if report is None:
        raise NotFoundError(f"no report with id {report_id}")
    return report


def save_draft(session: Session, report_id: int, *, revision: int, text: ReportText, user: User) -> Report:
    """Save an edit made on ``revision``; raises ConflictError when the report moved on and
    ReportStateError once it is signed: a preliminary text changes only by a radiologist's co-signature."""
    values: dict[str, object] = {"findings": text.findings, "impression": text.impression}
    _update_matching(session, report_id, revision, values=values, statuses=(ReportStatus.DRAFT.value,))
    _add_version(session, report_id, "draft", text, author=user)
    return get_report_by_id(session, report_id)


def sign_report(session: Session, report_id: int, *, revision: int, text: ReportText, user: User) -> Report:
    """Sign the text. A resident's signature makes it preliminary; a radiologist's on a
    preliminary report is the co-signature. Raises ConflictError when the report moved on."""
    current = get_report_by_id(session, report_id)
    role = Role(user.role)
    if role is Role.ADMIN:
        raise ReportStateError(f"user {user.username!r} is an admin; expected a radiologist or resident to sign")
    now = utcnow()
    values: dict[str, object] = {"findings": text.findings, "impression": text.impression}
    if role is Role.RESIDENT:
        if current.status == ReportStatus.PRELIMINARY.value:
            raise ReportStateError(f"report {report_id} awaits a radiologist's co-signature; a resident cannot sign it")
        status = ReportStatus.PRELIMINARY
        values |= {"author_id": user.id, "signed_by_id": user.id, "signed_at": now}
    elif current.status == ReportStatus.PRELIMINARY.value:
        status = ReportStatus.SIGNED
        values |= {"cosigned_by_id": user.id, "cosigned_at": now}
        if ReportText(current.findings, current.impression) != text:
            values["author_id"] = user.id  # the co-signer edited the text: it is now theirs
    else:
        status = ReportStatus.SIGNED
        values |= {"author_id": user.id, "signed_by_id": user.id, "signed_at": now}
    _update_matching(session, report_id, revision, values={**values, "status": status.value})
    _add_version(session, report_id, status.value, text, author=user)
    if current.reader_key == CLINICAL:
        set_report_status(session, current.study_id, status)
    return get_report_by_id(session, report_id)


def add_addendum(session: Session, report_id: int, *, text: str, user: User) -> Addendum:
    """Append an addendum to a signed report; the signed text stays as it is."""
    report = get_report_by_id(session, report_id)
    if report.status not in FINAL:
        raise ReportStateError(
            f"report {report_id} is {report.status}; addenda are for signed reports (edit the draft)"
        )
    if not text.strip():
        raise ReportStateError("the addendum is empty; expected some text")
    addendum = Addendum(report_id=report_id, author_id=user.id, text=text.strip())
    session.add(addendum)
    session.execute(
        update(Report)
        .where(Report.id == report_id)
        .values(status=ReportStatus.AMENDED.value, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if report.reader_key == CLINICAL:
        set_report_status(session, report.study_id, ReportStatus.AMENDED)
    session.flush()
    return addendum


def keep_conflicting_text(session: Session, report_id: int, *, text: ReportText, user: User) -> ReportVersion:
    """Keep the text of a save or signature that lost a race, so that nothing is lost."""
    return _add_version(session, report_id, "conflict", text, author=user)


def list_versions(session: Session, report_id: int) -> list[ReportVersion]:
    return list(
        session.scalars(
            select(ReportVersion).where(ReportVersion.report_id == report_id).order_by(ReportVersion.number)
        )
    )


def _update_matching(
    session: Session,
    report_id: int,
    revision: int,
    *,
    values: dict[str, object],
    statuses: tuple[str, ...] = (ReportStatus.DRAFT.value, ReportStatus.PRELIMINARY.value),
) -> None:
    """UPDATE the report only if it is still at ``revision`` and in one of ``statuses``; else explain why not."""
    result = session.execute(
        update(Report)
        .where(Report.id == report_id, Report.revision == revision, Report.status.in_(statuses))
        .values(**values, revision=Report.revision + 1, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if result.rowcount == 1:  # type: ignore[attr-defined]
        return
    report = get_report_by_id(session, report_id)
    if report.revision != revision:
        raise ConflictError(
            f"report {report_id} is at revision {report.revision} ({report.status}); the change was made on "
            f"revision {revision}: another reader saved or signed first"
        )
    if report.status == ReportStatus.PRELIMINARY.value:
        raise ReportStateError(
            f"report {report_id} is preliminary (signed by a resident); expected a radiologist's co-signature "
            "to change its text, not a draft save"
        )
    raise ReportStateError(f"report {report_id} is already {report.status}; change it by addendum")


def _add_version(
    session: Session, report_id: int, kind: str, text: ReportText, *, author: User | None
) -> ReportVersion:
    number = (
        session.scalar(select(func.max(ReportVersion.number)).where(ReportVersion.report_id == report_id)) or 0
    ) + 1
    version = ReportVersion(
        report_id=report_id,
        number=number,
        kind=kind,
        findings=text.findings,
        impression=text.impression,
        author_id=author.id if author else None,
    )
    session.add(version)
    session.flush()
    return version
