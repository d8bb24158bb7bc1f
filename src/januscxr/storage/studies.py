"""Studies, their images and the AI results on them; the worklist query."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from enum import StrEnum
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, and_, case, or_, select, update
from sqlalchemy.orm import Session, selectinload

from januscxr.errors import NotFoundError
from januscxr.labels import Finding, sort_by_urgency
from januscxr.records import discordance_record, finding_record
from januscxr.storage.tables import (
    AiResult,
    AiStatus,
    Heatmap,
    Image,
    Priority,
    ReadingSession,
    Report,
    ReportStatus,
    Study,
    utcnow,
)
from januscxr.storage.users import as_utc
from januscxr.types import Discordance, DraftReport, Prediction

MAX_SEARCH_TERMS = 5
SEARCH_MAX_CHARS = 64
UNREAD_BY_AI = (AiStatus.FAILED.value, AiStatus.REFUSED.value)
CLINICAL = 0  # reader_key of a study's clinical report (reports.CLINICAL; reports imports this module)


@dataclass(frozen=True)
class StudyAttributes:
    """What ingest knows of a study before any model has seen it (DICOM keywords)."""

    study_instance_uid: str
    accession_number: str | None = None
    patient_id: str | None = None
    patient_name: str | None = None
    patient_sex: str | None = None
    patient_age_years: float | None = None
    study_date: str | None = None
    study_time: str | None = None
    study_description: str | None = None
    source: str | None = None  # upload, watch, dicom:<calling AE title>


class WorklistSort(StrEnum):
    """Worklist columns a reader may sort by (a closed list: never a column name from the request)."""

    URGENCY = "urgency"  # critical, AI failed or refused, flagged, routine, pending; in study mode waiting time
    RECEIVED = "received"
    PATIENT_NAME = "patient_name"
    PATIENT_ID = "patient_id"
    PATIENT_SEX = "patient_sex"
    PATIENT_AGE = "patient_age"
    STUDY_DATE = "study_date"
    ACCESSION = "accession"
    DESCRIPTION = "description"
    REPORT = "report"


@dataclass(frozen=True)
class WorklistQuery:
    """Worklist filters; ``statuses`` empty means unsigned (draft and preliminary)."""

    statuses: tuple[ReportStatus, ...] = ()
    finding: Finding | None = None
    received_from: date | None = None
    received_to: date | None = None
    by_urgency: bool = True
    unsigned_by: int | None = None  # study mode: leave out cases this user id has signed
    search: str | None = None  # words each found in the patient name, patient ID or accession number
    sort: WorklistSort = WorklistSort.URGENCY
    descending: bool = False
    limit: int = 200
    offset: int = 0


class WorklistRow(NamedTuple):
    """One worklist line (a NamedTuple: 10,000 of them are built per full worklist)."""

    study_id: int
    study_instance_uid: str
    accession_number: str | None
    received_at: datetime
    ai_status: str
    priority: int
    top_finding: str | None
    flagged_findings: str  # "|Pneumothorax|Edema|"
    report_status: str
    n_images: int
    patient_name: str | None
    patient_id: str | None
    patient_sex: str | None
    patient_age_years: float | None
    study_date: str | None
    study_description: str | None
    ai_error: str | None  # why an image has no AI read, for studies the AI failed or refused
    study_time: str | None
    source: str | None
    ai_ready_at: datetime | None
    last_received_at: datetime | None  # the newest instance: receipt-to-draft counts from here


def add_study(session: Session, attributes: StudyAttributes) -> tuple[Study, bool]:
    """The study with that Study Instance UID, created when new; returns (study, created)."""
    study = session.scalar(select(Study).where(Study.study_instance_uid == attributes.study_instance_uid))
    if study is not None:
        return study, False
    study = Study(**{k: v for k, v in vars(attributes).items()})
    session.add(study)
    session.flush()
    return study, True


class ImageFile(NamedTuple):
    """Where an image row's files are: what start-up reconciliation compares with the folder."""

    id: int
    file_path: str
    display_path: str | None
    original_name: str | None
    error: str | None


def add_image(
    session: Session,
    study: Study,
    *,
    sop_instance_uid: str,
    file_path: str,
    view_position: str | None = None,
    original_name: str | None = None,
    content_sha256: str | None = None,
) -> Image:
    now = utcnow()
    image = Image(
        study_id=study.id,
        sop_instance_uid=sop_instance_uid,
        file_path=file_path,
        view_position=view_position,
        original_name=original_name,
        content_sha256=content_sha256,
        created_at=now,
    )
    session.add(image)
    study.last_received_at = now
    study.ai_status = AiStatus.PENDING.value
    study.n_images = (study.n_images or 0) + 1
    session.flush()
    return image


def image_exists(session: Session, sop_instance_uid: str) -> bool:
    return session.scalar(select(Image.id).where(Image.sop_instance_uid == sop_instance_uid)) is not None


def find_received_image(session: Session, *, content_sha256: str, sop_instance_uid: str) -> Image | None:
    """The image already stored with this content, else with this SOP Instance UID, else None."""
    for condition in (Image.content_sha256 == content_sha256, Image.sop_instance_uid == sop_instance_uid):
        image = session.scalar(select(Image).where(condition))
        if image is not None:
            return image
    return None


def image_files(session: Session) -> list[ImageFile]:
    """Every image row's file paths, name and error (columns only: cheap for 100,000 rows)."""
    columns = (Image.id, Image.file_path, Image.display_path, Image.original_name, Image.error)
    return [ImageFile._make(row) for row in session.execute(select(*columns).order_by(Image.id))]


def get_study(session: Session, study_id: int) -> Study:
    study = session.get(Study, study_id, options=[selectinload(Study.images)])
    if study is None:
        raise NotFoundError(f"no study with id {study_id}")
    return study


def get_image(session: Session, image_id: int) -> Image:
    image = session.get(Image, image_id)
    if image is None:
        raise NotFoundError(f"no image with id {image_id}")
    return image


def pending_images(session: Session) -> list[Image]:
    """Images with no AI result and no error: the work a restarted server queues again."""
    done = select(AiResult.image_id)
    return list(session.scalars(select(Image).where(Image.id.not_in(done), Image.error.is_(None)).order_by(Image.id)))


def set_display(session: Session, image: Image, *, display_path: str, rows: int, columns: int) -> None:
    image.display_path, image.rows, image.columns = display_path, rows, columns


def record_ai_result(
    session: Session,
    image: Image,
    prediction: Prediction,
    report: DraftReport,
    heatmaps: Mapping[Finding, bytes] | None = None,
    *,
    discordances: Sequence[Discordance] = (),
) -> AiResult:
    """Store one model read of an image (immutable) with the draft's discordances, and re-rank its study."""
    result = AiResult(
        study_id=image.study_id,
        image_id=image.id,
        model_id=prediction.model_id,
        model_version=prediction.model_version,
        reporter=report.reporter,
        findings=[finding_record(r) for r in prediction.ordered()],
        draft_findings=report.findings,
        draft_impression=report.impression,
        discordances=[discordance_record(d) for d in discordances],
    )
    session.add(result)
    session.flush()
    for finding, png in (heatmaps or {}).items():
        session.add(Heatmap(ai_result_id=result.id, finding=finding.value, png=png))
    _rank_study(session, image.study_id, prediction)
    return result


def _mark_ai_ready(study: Study) -> None:
    """The study's first AI outcome (a result, a failure or a refusal) since its newest instance
    arrived: when the draft was ready. A late instance's read moves it on; the study's other reads do not."""
    ready, newest = study.ai_ready_at, study.last_received_at
    if ready is None or (newest is not None and as_utc(ready) < as_utc(newest)):
        study.ai_ready_at = utcnow()


def is_late_instance(image: Image) -> bool:
    """Whether ``image`` arrived after its study's AI read was ready (call before storing its own read)."""
    ready = image.study.ai_ready_at
    return ready is not None and as_utc(image.created_at) > as_utc(ready)


def record_ai_failure(session: Session, image: Image, message: str, *, status: AiStatus = AiStatus.FAILED) -> None:
    """The image could not be read (FAILED) or is not what the AI reads (REFUSED). The study takes
    that status unless another of its images was read (a PA read stands beside a refused lateral)."""
    image.error = message
    study = session.get_one(Study, image.study_id)
    if study.priority == Priority.PENDING:
        study.priority = Priority.ROUTINE.value
    if session.scalar(select(AiResult.id).where(AiResult.study_id == study.id).limit(1)) is None:
        study.ai_status = status.value
    _mark_ai_ready(study)


def _rank_study(session: Session, study_id: int, prediction: Prediction) -> None:
    """Critical only for a critical finding at its specific (urgent) point; flagged for any flag.

    A critical study's ``top_finding`` is its most urgent critical finding, carried over from
    the study's earlier images; otherwise its most urgent flagged finding.
    """
    study = session.get_one(Study, study_id)
    flagged = set(filter(None, study.flagged_findings.split("|")))
    flagged |= {r.finding.value for r in prediction.findings.values() if r.flagged}
    flagged.discard(Finding.NO_FINDING.value)
    ordered = sort_by_urgency([Finding(f) for f in flagged])
    study.flagged_findings = "".join(f"|{f.value}" for f in ordered) + ("|" if ordered else "")
    critical = {r.finding for r in prediction.findings.values() if r.critical}
    if study.priority == Priority.CRITICAL and study.top_finding:
        critical.add(Finding(study.top_finding))
    critical.discard(Finding.NO_FINDING)
    if critical:
        study.top_finding, study.priority = sort_by_urgency(list(critical))[0].value, Priority.CRITICAL.value
    else:
        study.top_finding = ordered[0].value if ordered else None
        study.priority = (Priority.FLAGGED if ordered else Priority.ROUTINE).value
    study.ai_status = AiStatus.DONE.value
    _mark_ai_ready(study)


def latest_ai_results(session: Session, study_id: int) -> list[AiResult]:
    """The newest result per image (heatmaps not loaded: see :func:`heatmap_findings`)."""
    rows = session.scalars(select(AiResult).where(AiResult.study_id == study_id).order_by(AiResult.id.desc()))
    newest: dict[int, AiResult] = {}
    for row in rows:
        newest.setdefault(row.image_id, row)
    return sorted(newest.values(), key=lambda r: r.image_id)


def heatmap_findings(session: Session, ai_result_ids: list[int]) -> set[tuple[int, str]]:
    """(AI result id, finding) of every stored heatmap, without reading the PNGs."""
    if not ai_result_ids:
        return set()
    rows = session.execute(select(Heatmap.ai_result_id, Heatmap.finding).where(Heatmap.ai_result_id.in_(ai_result_ids)))
    return {(result_id, finding) for result_id, finding in rows}


def get_heatmap(session: Session, ai_result_id: int, finding: Finding) -> Heatmap:
    heatmap = session.scalar(
        select(Heatmap).where(Heatmap.ai_result_id == ai_result_id, Heatmap.finding == finding.value)
    )
    if heatmap is None:
        raise NotFoundError(f"no {finding.value} heatmap for AI result {ai_result_id}")
    return heatmap


def worklist(session: Session, query: WorklistQuery) -> list[WorklistRow]:
    """Studies to read: critical first, then those the AI failed or refused, then flagged, routine,
    pending; oldest first within each. ``query.sort`` puts one column first, that order after it."""
    statuses = query.statuses or (ReportStatus.DRAFT, ReportStatus.PRELIMINARY)
    first_error = (
        select(Image.error)
        .where(Image.study_id == Study.id, Image.error.is_not(None))
        .order_by(Image.id)
        .limit(1)
        .correlate(Study)
        .scalar_subquery()
    )
    columns = (
        Study.id,
        Study.study_instance_uid,
        Study.accession_number,
        Study.received_at,
        Study.ai_status,
        Study.priority,
        Study.top_finding,
        Study.flagged_findings,
        Study.report_status,
        Study.n_images,
        Study.patient_name,
        Study.patient_id,
        Study.patient_sex,
        Study.patient_age_years,
        Study.study_date,
        Study.study_description,
        case((Study.ai_status.in_(UNREAD_BY_AI), first_error), else_=None),
        Study.study_time,
        Study.source,
        Study.ai_ready_at,
        Study.last_received_at,
    )
    stmt = select(*columns).where(Study.report_status.in_([s.value for s in statuses]))
    if query.search and (condition := _search(query.search)) is not None:
        stmt = stmt.where(condition)
    if query.unsigned_by is not None:
        signed = select(ReadingSession.study_id).where(
            ReadingSession.user_id == query.unsigned_by, ReadingSession.signed_at.is_not(None)
        )
        stmt = stmt.where(Study.id.not_in(signed))
    if query.finding is not None:
        stmt = stmt.where(Study.flagged_findings.contains(f"|{query.finding.value}|"))
    if query.received_from is not None:
        stmt = stmt.where(Study.received_at >= datetime.combine(query.received_from, time.min))
    if query.received_to is not None:
        stmt = stmt.where(Study.received_at <= datetime.combine(query.received_to, time.max))
    stmt = stmt.order_by(*_worklist_order(query)).limit(query.limit).offset(query.offset)
    # Core rather than ORM execution: the columns need no entities, and 10,000 rows load faster.
    return [WorklistRow._make(row) for row in session.connection().execute(stmt)]


_SORT_COLUMNS: dict[WorklistSort, Any] = {
    WorklistSort.RECEIVED: Study.received_at,
    WorklistSort.PATIENT_NAME: Study.patient_name,
    WorklistSort.PATIENT_ID: Study.patient_id,
    WorklistSort.PATIENT_SEX: Study.patient_sex,
    WorklistSort.PATIENT_AGE: Study.patient_age_years,
    WorklistSort.STUDY_DATE: Study.study_date,
    WorklistSort.ACCESSION: Study.accession_number,
    WorklistSort.DESCRIPTION: Study.study_description,
    WorklistSort.REPORT: Study.report_status,
}


def _worklist_order(query: WorklistQuery) -> list[Any]:
    """The ORDER BY: the chosen column (blanks last), then the triage order (or waiting time)."""
    if query.by_urgency:
        # A study without an AI read has no triage: right after critical ones, so someone reads it soon.
        unread_first = case(
            (Study.priority == Priority.CRITICAL.value, 0), (Study.ai_status.in_(UNREAD_BY_AI), 1), else_=2
        )
        default: list[Any] = [unread_first, Study.priority, Study.received_at, Study.id]
    else:
        default = [Study.received_at, Study.id]
    if query.sort is WorklistSort.URGENCY:
        return [column.desc() for column in default] if query.descending else default
    column = _SORT_COLUMNS[query.sort]
    return [(column.desc() if query.descending else column.asc()).nulls_last(), *default]


def _search(text: str) -> ColumnElement[bool] | None:
    """Every word somewhere in the patient name, patient ID or accession number (case-insensitive,
    bound parameters with LIKE's wildcards escaped); None when there is no word to look for."""
    words = "".join(ch for ch in text if ch.isprintable()).split()[:MAX_SEARCH_TERMS]
    fields = (Study.patient_name, Study.patient_id, Study.accession_number)
    matches = [or_(*(field.ilike(f"%{_escape_like(word)}%", escape="\\") for field in fields)) for word in words]
    return and_(*matches) if matches else None


def _escape_like(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class EarlierStudy(NamedTuple):
    """A study of the same patient received before another one, with its final clinical report's impression."""

    study_id: int
    accession_number: str | None
    study_instance_uid: str
    study_date: str | None
    study_description: str | None
    received_at: datetime
    report_status: str
    impression: str | None  # the signed (or amended) clinical report's impression; None while not final


def earlier_studies(session: Session, study: Study, *, limit: int = 10) -> list[EarlierStudy]:
    """The same patient's studies (same non-empty patient ID) received before ``study``, newest first."""
    if not study.patient_id:
        return []
    final = [ReportStatus.SIGNED.value, ReportStatus.AMENDED.value]
    clinical_final = and_(Report.study_id == Study.id, Report.reader_key == CLINICAL, Report.status.in_(final))
    stmt = (
        select(
            Study.id,
            Study.accession_number,
            Study.study_instance_uid,
            Study.study_date,
            Study.study_description,
            Study.received_at,
            Study.report_status,
            Report.impression,
        )
        .outerjoin(Report, clinical_final)
        .where(
            Study.patient_id == study.patient_id,
            Study.id != study.id,
            or_(
                Study.received_at < study.received_at, and_(Study.received_at == study.received_at, Study.id < study.id)
            ),
        )
        .order_by(Study.received_at.desc(), Study.id.desc())
        .limit(limit)
    )
    return [EarlierStudy._make(row) for row in session.execute(stmt)]


def set_report_status(session: Session, study_id: int, status: ReportStatus) -> None:
    session.execute(update(Study).where(Study.id == study_id).values(report_status=status.value))
