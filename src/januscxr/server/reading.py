"""What the routes do, in one place for the API and the pages: open, save, sign, amend, export.

Each function opens its own transaction, audits the action (ids and statuses, never text)
and returns public schemas. In study mode a standard-arm case carries no AI output at all.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from januscxr.errors import AccessDeniedError, ConflictError
from januscxr.labels import Finding
from januscxr.server.deps import Principal, ReadingRoom
from januscxr.server.diffs import SectionDiff, section_diffs
from januscxr.server.discordances import report_discordances
from januscxr.server.failures import describe_stored
from januscxr.server.headers import person_name, study_date, study_header
from januscxr.server.ingest import study_label
from januscxr.server.outbox_objects import queue_report
from januscxr.server.schemas import (
    AddendumPublic,
    AiReadStatusPublic,
    AiResultPublic,
    DiscordancePublic,
    EarlierStudyPublic,
    FindingPublic,
    ImagePublic,
    ReportPublic,
    ReportUpdate,
    StudyPublic,
    VersionPublic,
)
from januscxr.storage import audit, reading, reports, studies
from januscxr.storage.tables import AiResult, Image, Priority, Report, ReportStatus, Role, Study, User
from januscxr.storage.users import as_utc

logger = logging.getLogger(__name__)

STUDY_ARMS = ("ai_assisted", "standard")

PRIORITY_NAMES = {p.value: p.name.lower() for p in Priority}
NEXT_STUDY_WINDOW = 10_000  # worklist rows "sign and next" looks through (the worklist's own maximum)
UNSIGNED = (ReportStatus.DRAFT, ReportStatus.PRELIMINARY)


def arm_of(room: ReadingRoom, principal: Principal, study_instance_uid: str) -> str | None:
    """The study-mode arm of this reader's read of the case (None outside study mode and for admins):
    a fair coin keyed on the seed, the case and the reader, so every reader gets a reproducible mix."""
    if not room.settings.study_mode or principal.role is Role.ADMIN:
        return None
    key = f"{room.settings.study_seed}:{study_instance_uid}:{principal.user.username}"
    return STUDY_ARMS[hashlib.sha256(key.encode()).digest()[0] & 1]


def reader_key(room: ReadingRoom, principal: Principal) -> int:
    """Whose report the reader works on: the clinical one, or in study mode their own."""
    return principal.user.id if room.settings.study_mode and principal.role is not Role.ADMIN else reports.CLINICAL


def worklist_items(room: ReadingRoom, principal: Principal, query: studies.WorklistQuery) -> list[dict[str, Any]]:
    """The worklist as plain dicts (the fields of ``WorklistItemPublic``; 10,000 rows render in
    milliseconds, not through a model each). In study mode: ordered by waiting time, the
    reader's signed cases left out, standard-arm cases without AI badges, and no finding filter
    for readers (it would sort their standard-arm cases by the AI's output)."""
    query = _readers_query(room, principal, query)
    with room.db.read() as session:
        rows = studies.worklist(session, query)
    # SQLite gives naive UTC datetimes, PostgreSQL aware ones: compare like with like.
    now = datetime.now(UTC)
    if rows and rows[0].received_at.tzinfo is None:
        now = now.replace(tzinfo=None)
    if not room.settings.study_mode:
        return [_worklist_item(row, now, hide_ai=False) for row in rows]
    return [
        _worklist_item(row, now, hide_ai=arm_of(room, principal, row.study_instance_uid) == "standard") for row in rows
    ]


def _readers_query(room: ReadingRoom, principal: Principal, query: studies.WorklistQuery) -> studies.WorklistQuery:
    """The query as this reader's worklist runs it (in study mode: waiting-time order, their signed cases left out)."""
    if not room.settings.study_mode:
        return query
    if query.finding is not None and principal.role is not Role.ADMIN:
        raise AccessDeniedError("the finding filter uses the AI's findings and is off for readers in study mode")
    return dataclasses.replace(query, by_urgency=False, unsigned_by=principal.user.id)


def next_study_id(room: ReadingRoom, principal: Principal, study_id: int) -> int | None:
    """The study after ``study_id`` in the reader's worklist order ("sign and next"), else the first
    one left other than it; None when nothing is left to read.

    Once signed, ``study_id`` has left the worklist; the same query run over its status as well
    (and, in study mode, over the reader's signed cases) still gives its place in the order."""
    to_read = _readers_query(room, principal, studies.WorklistQuery(limit=NEXT_STUDY_WINDOW))
    with room.db.read() as session:
        status = ReportStatus(studies.get_study(session, study_id).report_status)
        left = [row.study_id for row in studies.worklist(session, to_read) if row.study_id != study_id]
        with_it = dataclasses.replace(to_read, statuses=(*UNSIGNED, status), unsigned_by=None)
        order = [row.study_id for row in studies.worklist(session, with_it)]
    later = order[order.index(study_id) + 1 :] if study_id in order else []
    pending = set(left)
    return next((i for i in later if i in pending), left[0] if left else None)


def _worklist_item(row: studies.WorklistRow, now: datetime, *, hide_ai: bool) -> dict[str, Any]:
    """A worklist line; ``received_at`` stays a datetime (the API writes it as ISO 8601)."""
    flagged = [] if hide_ai else row.flagged_findings.strip("|").split("|") if row.flagged_findings else []
    return {
        "study_id": row.study_id,
        "label": row.accession_number or f"…{row.study_instance_uid[-12:]}",
        "patient_name": person_name(row.patient_name),
        "patient_id": row.patient_id,
        "patient_sex": row.patient_sex,
        "patient_age_years": row.patient_age_years,
        "study_date": study_date(row.study_date),
        "study_time": study_time(row.study_time),
        "source": row.source,
        "accession_number": row.accession_number,
        "study_description": row.study_description,
        "received_at": row.received_at,
        "waiting_min": round((now - row.received_at).total_seconds() / 60.0, 1),
        "ready_s": None if hide_ai else _ready_s(row),
        "ai_status": "hidden" if hide_ai else row.ai_status,
        "priority": "hidden" if hide_ai else _priority_name(row),
        "ai_error": None if hide_ai else describe_stored(row.ai_error),
        "top_finding": None if hide_ai else row.top_finding,
        "flagged_findings": flagged,
        "report_status": row.report_status,
        "n_images": row.n_images,
    }


def study_time(value: str | None) -> str | None:
    """A DICOM TM (``140512.123``) as ``14:05:12``; ``1405`` as ``14:05``; anything else as it came."""
    digits = (value or "").partition(".")[0]
    if digits.isdigit() and len(digits) in (2, 4, 6):
        return ":".join(digits[i : i + 2] for i in range(0, len(digits), 2)) if len(digits) > 2 else f"{digits}:00"
    return value or None


def _ready_s(row: studies.WorklistRow) -> float | None:
    """Receipt to AI outcome, from the study's newest instance (a late instance restarts the clock)."""
    if row.ai_ready_at is None:
        return None
    return _seconds(row.last_received_at or row.received_at, row.ai_ready_at)


def _seconds(start: datetime, end: datetime) -> float:
    """Seconds from ``start`` to ``end`` (never negative), comparing naive with naive and aware with aware."""
    if (start.tzinfo is None) != (end.tzinfo is None):
        start, end = as_utc(start), as_utc(end)
    return round(max((end - start).total_seconds(), 0.0), 1)


def _priority_name(row: studies.WorklistRow) -> str:
    """The worklist bucket: a study the AI failed or refused is never "routine" (it has no AI read)."""
    name = PRIORITY_NAMES[row.priority]
    return row.ai_status if row.ai_status in studies.UNREAD_BY_AI and name != "critical" else name


def ai_read_statuses(room: ReadingRoom, principal: Principal, study_ids: list[int]) -> list[AiReadStatusPublic]:
    """Where the AI reads of these studies stand (the upload page counts them); hidden in the standard arm."""
    with room.db.read() as session:
        found = session.scalars(
            select(Study).where(Study.id.in_(study_ids)).options(selectinload(Study.images)).order_by(Study.id)
        ).all()
    out = []
    for study in found:
        if arm_of(room, principal, study.study_instance_uid) == "standard":
            out.append(AiReadStatusPublic(study_id=study.id, ai_status="hidden", ai_error=None))
            continue
        unread = study.ai_status in studies.UNREAD_BY_AI
        error = next((describe_stored(i.error) for i in study.images if i.error), None) if unread else None
        out.append(AiReadStatusPublic(study_id=study.id, ai_status=study.ai_status, ai_error=error))
    return out


def open_study(room: ReadingRoom, principal: Principal, study_id: int) -> StudyPublic:
    """The study as its reader sees it; starts the reading session and audits the view.

    Reads happen outside the write transaction, which stays a few statements long: on SQLite
    every writer waits for it. The report comes back as that transaction left it, not read again."""
    key, readable = reader_key(room, principal), principal.role is not Role.ADMIN
    mode = room.settings.study_mode  # sessions of the other mode are never reused
    with room.db.read() as session:
        study = studies.get_study(session, study_id)
        arm = arm_of(room, principal, study.study_instance_uid)
        results = studies.latest_ai_results(session, study_id) if arm != "standard" else []
        heatmaps = studies.heatmap_findings(session, [r.id for r in results])
        report = reports.find_report(session, study_id, reader_key=key)
        reading_row = reading.get_reading(session, study_id, principal.user, study_mode=mode) if readable else None
        earlier = [_earlier_public(e) for e in studies.earlier_studies(session, study)]
    stale = report is None or bool(results and reports.is_untouched_and_empty(report))
    with room.db.write() as session:
        if report is None or stale:
            report = reports.ensure_report(session, study, results[0] if results else None, reader_key=key)
        if readable and reading_row is None:
            reading_row = reading.open_reading(session, study, principal.user, study_mode=mode, arm=arm)
        audit.record_event(session, "view", user=principal.user, study_id=study_id, report_id=report.id)
        report_public = _with_discordances(_report_public(session, report), results[0] if results else None)
    return StudyPublic(
        id=study.id,
        label=study_label(study),
        header=study_header(study),
        study_instance_uid=study.study_instance_uid,
        received_at=as_utc(study.received_at),
        ai_status=study.ai_status if arm != "standard" else "hidden",
        report_status=study.report_status,
        arm=arm,
        ai_visible=arm != "standard",
        images=[_image_public(i) for i in study.images],
        ai_results=[_ai_public(r, report_public, heatmaps, shown_first=i == 0) for i, r in enumerate(results)],
        report=report_public,
        active_s=round(reading_row.active_ms / 1000.0, 1) if reading_row else 0.0,
        earlier_studies=earlier,
    )


def _earlier_public(earlier: studies.EarlierStudy) -> EarlierStudyPublic:
    # Signed reports are not AI output: shown in both arms of study mode.
    return EarlierStudyPublic(
        study_id=earlier.study_id,
        label=earlier.accession_number or f"…{earlier.study_instance_uid[-12:]}",
        study_date=study_date(earlier.study_date),
        study_description=earlier.study_description,
        received_at=as_utc(earlier.received_at),
        report_status=earlier.report_status,
        impression=earlier.impression,
    )


def report_of(room: ReadingRoom, principal: Principal, study_id: int) -> ReportPublic:
    """The reader's report, with its discordances against the AI result the study page shows first
    (none in the standard arm): a save answers with them, so the page updates them without a reload."""
    with room.db.read() as session:
        report = reports.get_report(session, study_id, reader_key=reader_key(room, principal))
        return _with_discordances(_report_public(session, report), _shown_ai_result(room, principal, session, study_id))


def _shown_ai_result(room: ReadingRoom, principal: Principal, session: Session, study_id: int) -> AiResult | None:
    """The AI result the study page shows first, which a report's discordances are against (None in the standard arm)."""
    study = studies.get_study(session, study_id)
    if arm_of(room, principal, study.study_instance_uid) == "standard":
        return None
    return next(iter(studies.latest_ai_results(session, study_id)), None)


def _with_discordances(public: ReportPublic, shown: AiResult | None) -> ReportPublic:
    if shown is not None:
        public.discordances = report_discordances(shown, findings=public.findings, impression=public.impression)
    return public


def read_report(room: ReadingRoom, principal: Principal, study_id: int) -> ReportPublic:
    """The report, audited as read."""
    report = report_of(room, principal, study_id)
    record_access(room, principal, "read_report", study_id=study_id, report_id=report.id)
    return report


def record_access(
    room: ReadingRoom,
    principal: Principal,
    action: str,
    *,
    study_id: int | None = None,
    report_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Audit a read (a report, its versions, an image, an export): ids only, never text."""
    with room.db.write() as session:
        audit.record_event(session, action, user=principal.user, study_id=study_id, report_id=report_id, detail=detail)


def save_draft(room: ReadingRoom, principal: Principal, study_id: int, update: ReportUpdate) -> ReportPublic:
    text = reports.ReportText(update.findings, update.impression)
    report_id, shown = _report_target(room, principal, study_id)
    with _keeping_conflicts(room, principal, study_id, text), room.db.write() as session:
        saved = reports.save_draft(session, report_id, revision=update.revision, text=text, user=principal.user)
        audit.record_event(session, "save_draft", user=principal.user, study_id=study_id, report_id=report_id)
        public = _report_public(session, saved)
    return _with_discordances(public, shown)


def sign(room: ReadingRoom, principal: Principal, study_id: int, update: ReportUpdate) -> ReportPublic:
    text = reports.ReportText(update.findings, update.impression)
    report_id, shown = _report_target(room, principal, study_id)
    with _keeping_conflicts(room, principal, study_id, text), room.db.write() as session:
        signed = reports.sign_report(session, report_id, revision=update.revision, text=text, user=principal.user)
        reading.close_reading(session, study_id, principal.user, study_mode=room.settings.study_mode)
        detail = {"status": signed.status, "revision": signed.revision}
        audit.record_event(session, "sign", user=principal.user, study_id=study_id, report_id=report_id, detail=detail)
        queue_report(session, room.pool.outbound, room.data_dir, signed)  # to the PACS, RIS, EHR, with the signature
        public = _report_public(session, signed)
    return _with_discordances(public, shown)


def add_addendum(room: ReadingRoom, principal: Principal, study_id: int, text: str) -> ReportPublic:
    report_id, shown = _report_target(room, principal, study_id)
    with room.db.write() as session:
        addendum = reports.add_addendum(session, report_id, text=text, user=principal.user)
        detail = {"addendum_id": addendum.id}
        audit.record_event(
            session, "addendum", user=principal.user, study_id=study_id, report_id=report_id, detail=detail
        )
        # The addendum's UPDATE bypassed the session: refresh the report's row within this transaction.
        amended = reports.get_report_by_id(session, report_id)
        queue_report(session, room.pool.outbound, room.data_dir, amended)
        public = _report_public(session, amended)
    return _with_discordances(public, shown)


def _report_target(room: ReadingRoom, principal: Principal, study_id: int) -> tuple[int, AiResult | None]:
    """The reader's report id and the AI result its discordances are against, read before a write to it."""
    with room.db.read() as session:
        report_id = reports.report_id_of(session, study_id, reader_key=reader_key(room, principal))
        return report_id, _shown_ai_result(room, principal, session, study_id)


def record_activity(room: ReadingRoom, principal: Principal, study_id: int, active_ms: int) -> None:
    """Add active reading time; one report counts at most the idle limit (a gap is not reading)."""
    capped = min(active_ms, int(room.settings.idle_after_s * 1000))
    with room.db.write() as session:
        mode = room.settings.study_mode
        reading.add_active_time(session, study_id, principal.user, study_mode=mode, active_ms=capped)


def versions_with_diffs(
    room: ReadingRoom, principal: Principal, study_id: int
) -> list[tuple[VersionPublic, list[SectionDiff]]]:
    """Every version with its sections side by side against the report text before it, changed words marked."""
    with room.db.read() as session:
        report = reports.get_report(session, study_id, reader_key=reader_key(room, principal))
        names = _user_names(session)
        rows = reports.list_versions(session, report.id)
    out: list[tuple[VersionPublic, list[SectionDiff]]] = []
    previous: dict[str, str] | None = None
    for row in rows:
        sections = {"Findings": row.findings, "Impression": row.impression}
        version = VersionPublic(
            number=row.number,
            kind=row.kind,
            author=names.get(row.author_id) if row.author_id else None,
            created_at=as_utc(row.created_at),
            findings=row.findings,
            impression=row.impression,
        )
        out.append((version, section_diffs(previous, sections)))
        if row.kind != "conflict":  # a text that lost a race: the report went on from the one before it
            previous = sections
    return out


@contextmanager
def _keeping_conflicts(
    room: ReadingRoom, principal: Principal, study_id: int, text: reports.ReportText
) -> Iterator[None]:
    """On ConflictError, keep the losing text as a ``conflict`` version, then re-raise."""
    try:
        yield
    except ConflictError:
        with room.db.write() as session:
            report = reports.get_report(session, study_id, reader_key=reader_key(room, principal))
            reports.keep_conflicting_text(session, report.id, text=text, user=principal.user)
            audit.record_event(session, "conflict", user=principal.user, study_id=study_id, report_id=report.id)
        logger.info("study %d: a save lost a race and was kept as a conflict version", study_id)
        raise


def _report_public(session: Session, report: Report) -> ReportPublic:
    addenda = reports.list_addenda(session, report.id) if report.status == ReportStatus.AMENDED else []
    ids = {report.signed_by_id, report.cosigned_by_id, report.author_id, *(a.author_id for a in addenda)} - {None}
    names = _user_names(session, ids)
    signer, cosigner = names.get(report.signed_by_id or 0), names.get(report.cosigned_by_id or 0)
    drafted = session.get(AiResult, report.ai_result_id) if report.ai_result_id else None
    return ReportPublic(
        id=report.id,
        study_id=report.study_id,
        status=report.status,
        revision=report.revision,
        findings=report.findings,
        impression=report.impression,
        signed_by=names.get(report.signed_by_id) if report.signed_by_id else None,
        signed_at=as_utc(report.signed_at) if report.signed_at else None,
        cosigned_by=names.get(report.cosigned_by_id) if report.cosigned_by_id else None,
        cosigned_at=as_utc(report.cosigned_at) if report.cosigned_at else None,
        author=names.get(report.author_id) if report.author_id else None,
        signature=_signature(report, signer, cosigner),
        drafted_by=f"{drafted.model_id} {drafted.model_version}, draft by {drafted.reporter}" if drafted else None,
        attribution=_attribution(report, signer, cosigner) if drafted else None,
        addenda=[
            AddendumPublic(id=a.id, author=names.get(a.author_id, "?"), text=a.text, created_at=as_utc(a.created_at))
            for a in addenda
        ],
    )


def _signature(report: Report, signer: str | None, cosigner: str | None) -> str | None:
    """Who wrote and signed the text, in words: the line under a printed report."""
    if signer is None:
        return None
    if report.status == ReportStatus.PRELIMINARY:
        return f"Preliminary by {signer}"
    if cosigner is None:
        return f"Signed by {signer}"
    if report.author_id is not None and report.author_id == report.cosigned_by_id:
        return f"Preliminary by {signer}; edited and signed by {cosigner}"
    return f"Preliminary by {signer}; co-signed by {cosigner}"


def _attribution(report: Report, signer: str | None, cosigner: str | None) -> str | None:
    """The line under a signed report that began as an AI draft: who reviewed and signed it."""
    if signer is None:
        return None
    if report.status == ReportStatus.PRELIMINARY:
        return f"AI-assisted draft, reviewed by {signer}; preliminary, awaiting a radiologist's co-signature"
    if cosigner is None:
        return f"AI-assisted draft, reviewed and signed by {signer}"
    return f"AI-assisted draft, reviewed by {signer} (preliminary) and signed by {cosigner}"


def _user_names(session: Session, ids: set[int | None] | None = None) -> dict[int, str]:
    """Display names by user id: of ``ids``, or of everyone when None."""
    if ids is not None and not ids:
        return {}
    query = select(User.id, User.display_name)
    if ids is not None:
        query = query.where(User.id.in_(ids))
    return {uid: name for uid, name in session.execute(query)}


def _image_public(image: Image) -> ImagePublic:
    return ImagePublic(
        id=image.id,
        view_position=image.view_position,
        rows=image.rows,
        columns=image.columns,
        display_url=f"/api/images/{image.id}/display.png" if image.display_path else None,
        error=describe_stored(image.error),
    )


def _ai_public(
    result: AiResult, report: ReportPublic, heatmaps: set[tuple[int, str]], *, shown_first: bool
) -> AiResultPublic:
    discordances: list[DiscordancePublic] = (
        report.discordances
        if shown_first
        else report_discordances(result, findings=report.findings, impression=report.impression)
    )
    discordant = {d.finding for d in discordances}
    findings = []
    for record in result.findings:
        finding = Finding(record["finding"])
        url = (
            f"/api/ai-results/{result.id}/heatmaps/{finding.name.lower()}.png"
            if (result.id, finding.value) in heatmaps
            else None
        )
        findings.append(FindingPublic(**record, heatmap_url=url, discordant=finding.value in discordant))
    return AiResultPublic(
        id=result.id,
        image_id=result.image_id,
        model_id=result.model_id,
        model_version=result.model_version,
        reporter=result.reporter,
        created_at=as_utc(result.created_at),
        findings=findings,
    )
