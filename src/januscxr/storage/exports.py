"""What a research export reads: the selected studies, their image files and their signed reports.

Plain frozen records, so that the export writes files with no database session open.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from januscxr.errors import NotFoundError
from januscxr.storage import reports
from januscxr.storage.tables import Image, Report, ReportStatus, Study, User

ALL, SIGNED = "all", "signed"
CLINICAL = 0  # reader_key of a study's clinical report (reports.CLINICAL)
_FINAL = (ReportStatus.SIGNED.value, ReportStatus.AMENDED.value)


@dataclass(frozen=True)
class ExportImage:
    id: int
    file_path: str  # relative to the data folder
    original_name: str | None
    view_position: str | None


@dataclass(frozen=True)
class ExportAddendum:
    author: str
    created_at: datetime
    text: str


@dataclass(frozen=True)
class ExportReport:
    """A final (signed or amended) clinical report: its signed text, who signed it and when, and its addenda."""

    status: str
    findings: str
    impression: str
    signed_by: str | None
    signed_at: datetime | None
    cosigned_by: str | None
    cosigned_at: datetime | None
    addenda: tuple[ExportAddendum, ...]


@dataclass(frozen=True)
class ExportStudy:
    id: int
    study_instance_uid: str
    accession_number: str | None
    patient_id: str | None
    patient_name: str | None
    study_date: str | None  # DICOM DA
    report_status: str
    images: tuple[ExportImage, ...]
    report: ExportReport | None  # None unless the clinical report is signed or amended


def select_study_ids(session: Session, selectors: Sequence[str]) -> list[int]:
    """The ids of the studies ``selectors`` name, in id order, each once.

    Each selector is ``all``, ``signed`` (studies whose report is signed or amended), or a
    Study Instance UID or accession number, matched exactly. Raises NotFoundError naming a
    selector that matches no study.
    """
    found: set[int] = set()
    for selector in selectors:
        value = selector.strip()
        query = select(Study.id)
        if value == SIGNED:
            query = query.where(Study.report_status.in_(_FINAL))
        elif value != ALL:
            query = query.where(or_(Study.study_instance_uid == value, Study.accession_number == value))
        ids = set(session.scalars(query))
        if not ids and value not in (ALL, SIGNED):
            raise NotFoundError(f"study {value!r}: no study has this Study Instance UID or accession number")
        found |= ids
    return sorted(found)


def export_study(session: Session, study_id: int) -> ExportStudy:
    """The study's record for the export; its report only when signed or amended."""
    study = session.get(Study, study_id)
    if study is None:
        raise NotFoundError(f"no study with id {study_id}")
    images = session.scalars(select(Image).where(Image.study_id == study_id).order_by(Image.id))
    report = session.scalar(select(Report).where(Report.study_id == study_id, Report.reader_key == CLINICAL))
    return ExportStudy(
        id=study.id,
        study_instance_uid=study.study_instance_uid,
        accession_number=study.accession_number,
        patient_id=study.patient_id,
        patient_name=study.patient_name,
        study_date=study.study_date,
        report_status=report.status if report is not None else ReportStatus.DRAFT.value,
        images=tuple(ExportImage(i.id, i.file_path, i.original_name, i.view_position) for i in images),
        report=_final_report(session, report) if report is not None and report.status in _FINAL else None,
    )


def _final_report(session: Session, report: Report) -> ExportReport:
    addenda = reports.list_addenda(session, report.id)
    return ExportReport(
        status=report.status,
        findings=report.findings,
        impression=report.impression,
        signed_by=_display_name(session, report.signed_by_id),
        signed_at=report.signed_at,
        cosigned_by=_display_name(session, report.cosigned_by_id),
        cosigned_at=report.cosigned_at,
        addenda=tuple(ExportAddendum(_display_name(session, a.author_id) or "", a.created_at, a.text) for a in addenda),
    )


def _display_name(session: Session, user_id: int | None) -> str | None:
    user = session.get(User, user_id) if user_id is not None else None
    return user.display_name if user is not None else None
