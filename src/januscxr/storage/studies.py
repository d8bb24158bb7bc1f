"""Studies, their images and the AI results on them; the worklist query."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import NamedTuple

from sqlalchemy import select, update
from sqlalchemy.orm import Session, selectinload

from januscxr.errors import NotFoundError
from januscxr.labels import Finding, sort_by_urgency
from januscxr.records import finding_record
from januscxr.storage.tables import AiResult, AiStatus, Heatmap, Image, Priority, ReadingSession, ReportStatus, Study
from januscxr.types import DraftReport, Prediction


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


@dataclass(frozen=True)
class WorklistQuery:
    """Worklist filters; ``statuses`` empty means unsigned (draft and preliminary)."""

    statuses: tuple[ReportStatus, ...] = ()
    finding: Finding | None = None
    received_from: date | None = None
    received_to: date | None = None
    by_urgency: bool = True
    unsigned_by: int | None = None  # study mode: leave out cases this user id has signed
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
    image = Image(
        study_id=study.id,
        sop_instance_uid=sop_instance_uid,
        file_path=file_path,
        view_position=view_position,
        original_name=original_name,
        content_sha256=content_sha256,
    )
    session.add(image)
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
) -> AiResult:
    """Store one model read of an image (immutable) and re-rank its study on the worklist."""
    result = AiResult(
        study_id=image.study_id,
        image_id=image.id,
        model_id=prediction.model_id,
        model_version=prediction.model_version,
        reporter=report.reporter,
        findings=[finding_record(r) for r in prediction.ordered()],
        draft_findings=report.findings,
        draft_impression=report.impression,
    )
    session.add(result)
    session.flush()
    for finding, png in (heatmaps or {}).items():
        session.add(Heatmap(ai_result_id=result.id, finding=finding.value, png=png))
    _rank_study(session, image.study_id, prediction)
    return result


def record_ai_failure(session: Session, image: Image, message: str) -> None:
    """The image could not be read or classified; the study is read without AI."""
    image.error = message
    study = session.get_one(Study, image.study_id)
    if study.priority == Priority.PENDING:
        study.priority = Priority.ROUTINE.value
    study.ai_status = AiStatus.FAILED.value


def _rank_study(session: Session, study_id: int, prediction: Prediction) -> None:
    study = session.get_one(Study, study_id)
    flagged = set(filter(None, study.flagged_findings.split("|")))
    flagged |= {r.finding.value for r in prediction.findings.values() if r.flagged}
    flagged.discard(Finding.NO_FINDING.value)
    ordered = sort_by_urgency([Finding(f) for f in flagged])
    study.flagged_findings = "".join(f"|{f.value}" for f in ordered) + ("|" if ordered else "")
    study.top_finding = ordered[0].value if ordered else None
    if ordered and ordered[0].is_critical:
        study.priority = Priority.CRITICAL.value
    else:
        study.priority = (Priority.FLAGGED if ordered else Priority.ROUTINE).value
    study.ai_status = AiStatus.DONE.value


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
    """Studies to read: critical first, then flagged, routine, pending; oldest first within each."""
    statuses = query.statuses or (ReportStatus.DRAFT, ReportStatus.PRELIMINARY)
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
    )
    stmt = select(*columns).where(Study.report_status.in_([s.value for s in statuses]))
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
    order = (Study.priority, Study.received_at, Study.id) if query.by_urgency else (Study.received_at, Study.id)
    stmt = stmt.order_by(*order).limit(query.limit).offset(query.offset)
    # Core rather than ORM execution: the columns need no entities, and 10,000 rows load faster.
    return [WorklistRow._make(row) for row in session.connection().execute(stmt)]


def set_report_status(session: Session, study_id: int, status: ReportStatus) -> None:
    session.execute(update(Study).where(Study.id == study_id).values(report_status=status.value))
