"""What goes into the outbox, and when: objects built from what was just stored, queued per destination.

- An image read (the worker, in the transaction storing its result): the AI result SR and one
  heatmap Secondary Capture per flagged finding, for every DICOM destination; optionally the AI
  draft as a preliminary SR and as ORU^R01 with status P.
- A clinical report signed, co-signed or amended (in the transaction of the signature): the
  report SR (after an addendum, a new SR whose Predecessor Documents name the previous one), the
  ORU^R01 (F, or C once amended) and the FHIR bundle (final or amended).

Each object is written once, under fixed UIDs (a DICOM file in ``<data_dir>/outbox``, or the
message text in its row), so every retry sends the same object. One that cannot be encoded is
queued set aside with the error naming the field, and the signature or the read stands.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from io import BytesIO
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from sqlalchemy.orm import Session

from januscxr.errors import ImageReadError, JanusCxrError
from januscxr.interop import (
    Algorithm,
    Signature,
    SignedAddendum,
    ai_result_sr,
    draft_report_sr,
    heatmap_captures,
    report_sr,
)
from januscxr.interop.fhir_report import report_bundle
from januscxr.interop.hl7_oru import CONTROL_ID_MAX_CHARS, oru_r01
from januscxr.interop.order import ImagingOrder, OutgoingReport, Patient
from januscxr.io.dicom import read_dataset
from januscxr.io.reader import sniff_format
from januscxr.models.registry import classifier_specs
from januscxr.records import finding_results
from januscxr.server.datafolder import PRIVATE_DIR, write_private
from januscxr.server.outbox import OUTBOX, OutboundConfig
from januscxr.storage import outbox, reports
from januscxr.storage.outbox import OutboxKind, OutgoingObject
from januscxr.storage.tables import AiResult, Image, Report, ReportStatus, Study, User
from januscxr.types import DraftReport, FindingResult, FloatArray, Prediction

logger = logging.getLogger(__name__)

_UPLOAD_SUFFIXES = frozenset({".png", ".jpg", ".jpeg"})  # uploads without a DICOM study to add objects to


def queue_ai_result(
    session: Session,
    config: OutboundConfig,
    data_dir: Path,
    image: Image,
    prediction: Prediction,
    *,
    pixels: FloatArray,
    draft: DraftReport,
) -> int:
    """Queue the AI objects of ``image``'s read; how many rows were queued."""
    if not config.is_enabled:
        return 0
    queued = 0
    source, unreadable = _source_or_reason(data_dir, image)
    results = prediction.ordered()
    algorithm = algorithm_of(prediction.model_id, prediction.model_version)
    study_id = image.study_id
    if (source is not None or unreadable) and config.dicom_names:

        def header() -> Dataset:
            return _required(source, unreadable)

        builds: list[tuple[OutboxKind, Callable[[], Sequence[Dataset]]]] = []
        if config.send_ai_sr:
            builds.append((OutboxKind.AI_SR, lambda: [ai_result_sr(header(), results, algorithm)]))
        if config.send_heatmaps and any(r.flagged and r.heatmap is not None for r in results):
            builds.append((OutboxKind.HEATMAP, lambda: heatmap_captures(header(), pixels, results, algorithm)))
        if config.send_draft_sr:
            builds.append((OutboxKind.DRAFT_SR, lambda: [draft_report_sr(header(), draft)]))
        for kind, build in builds:
            queued += _queue_dicom(session, config, data_dir, (study_id, None), kind, build)
    if config.send_draft_hl7 and config.mllp is not None:
        patient, order, routing = patient_of(image.study, source), order_of(image.study, source), config.mllp.routing

        def message(control_id: str) -> str:
            return oru_r01(OutgoingReport.draft(draft), patient, order, routing, control_id=control_id)

        queued += _queue_message(session, config.mllp.name, (study_id, None), OutboxKind.ORU, message)
    return queued


def queue_report(session: Session, config: OutboundConfig, data_dir: Path, report: Report) -> int:
    """Queue the objects of ``report`` just signed, co-signed or amended; how many rows were queued."""
    status = ReportStatus(report.status)
    if not config.is_enabled or not status.is_final or report.reader_key != reports.CLINICAL:
        return 0  # a resident's preliminary signature and study-mode reads stay inside
    study = session.get_one(Study, report.study_id)
    image = next((i for i in study.images if _is_dicom(data_dir, i)), None)
    image = image or next((i for i in study.images if _is_missing_dicom(data_dir, i)), None)
    source, unreadable = _source_or_reason(data_dir, image)
    try:
        outgoing = outgoing_report(session, config, report)
    except JanusCxrError as error:
        return _queue_unencodable(session, config, study.id, report.id, str(error))
    queued, ids = 0, (study.id, report.id)
    if (source is not None or unreadable) and config.dicom_names and config.send_report_sr:
        signature = outgoing.signature
        assert signature is not None  # OutgoingReport.signed

        def sr() -> list[Dataset]:
            previous = _previous_sr(session, data_dir, report.id)  # in the build: a lost file sets the SR aside
            return [
                report_sr(
                    _required(source, unreadable),
                    findings=outgoing.findings,
                    impression=outgoing.impression,
                    signature=signature,
                    addenda=outgoing.addenda,
                    previous=previous,
                )
            ]

        queued += _queue_dicom(session, config, data_dir, ids, OutboxKind.REPORT_SR, sr)
    mllp_name, fhir_name = config.report_names
    patient, order = patient_of(study, source), order_of(study, source)
    if mllp_name is not None and config.mllp is not None:
        routing = config.mllp.routing

        def message(control_id: str) -> str:
            return oru_r01(outgoing, patient, order, routing, control_id=control_id)

        queued += _queue_message(session, mllp_name, ids, OutboxKind.ORU, message)
    if fhir_name is not None:
        results, algorithm = _ai_results(session, report)
        system = config.fhir_identifier_system

        def bundle(_: str) -> str:
            built = report_bundle(
                outgoing, patient, order, identifier_system=system, results=results, algorithm=algorithm
            )
            return built.model_dump_json()

        queued += _queue_message(session, fhir_name, ids, OutboxKind.FHIR, bundle)
    return queued


def outgoing_report(session: Session, config: OutboundConfig, report: Report) -> OutgoingReport:
    """The signed text, its final signature (the co-signer's, if any) and its addenda, as they leave."""
    cosigned = report.cosigned_by_id is not None
    signer_id = report.cosigned_by_id if cosigned else report.signed_by_id
    signed_at = report.cosigned_at if cosigned else report.signed_at
    signature = Signature(_display_name(session, signer_id), config.organization, _utc(signed_at))
    addenda = [
        SignedAddendum(a.text, Signature(_display_name(session, a.author_id), config.organization, _utc(a.created_at)))
        for a in reports.list_addenda(session, report.id)
    ]
    return OutgoingReport.signed(report.findings, report.impression, signature, addenda)


def patient_of(study: Study, source: Dataset | None) -> Patient:
    """The patient as stored with the study; the birth date from the image header when it has one."""
    return Patient(
        patient_id=study.patient_id or "",
        name=study.patient_name or "",
        birth_date=_date(source.get("PatientBirthDate") if source is not None else None),
        sex=study.patient_sex,
        issuer=str(source.get("IssuerOfPatientID") or "") or None if source is not None else None,
    )


def order_of(study: Study, source: Dataset | None) -> ImagingOrder:
    """The order: the study's accession number and UID; the placer and filler order numbers from the image header."""
    placer = filler = None
    if source is not None:
        placer = str(source.get("PlacerOrderNumberImagingServiceRequest") or "") or None
        filler = str(source.get("FillerOrderNumberImagingServiceRequest") or "") or None
    return ImagingOrder(
        study_instance_uid=study.study_instance_uid,
        accession_number=study.accession_number or "",
        placer_order_number=placer,
        filler_order_number=filler,
        study_datetime=_study_datetime(study.study_date, study.study_time),
    )


def algorithm_of(model_id: str, version: str) -> Algorithm:
    """The classifier as the objects name it, with its weights' sha256 when the registry knows it."""
    sha256 = next((s.sha256 for s in classifier_specs() if s.model_id == model_id), None)
    return Algorithm(model_id=model_id, version=version, weights_sha256=sha256)


Ids = tuple[int, int | None]  # (study id, report id)


def _queue_dicom(
    session: Session,
    config: OutboundConfig,
    data_dir: Path,
    ids: Ids,
    kind: OutboxKind,
    build: Callable[[], Sequence[Dataset]],
) -> int:
    """Write the objects ``build`` makes and queue each for every DICOM destination."""
    try:
        datasets = build()
    except Exception as error:  # highdicom raises ValueError too: the read or signature stands, the row says why
        logger.warning("study %d: %s not encoded: %s", ids[0], kind.value, type(error).__name__)
        item = OutgoingObject(kind, str(generate_uid()), *ids)
        message = str(error) if isinstance(error, JanusCxrError) else f"not encoded: {type(error).__name__}: {error}"
        return sum(outbox.enqueue(session, name, item, error=message) for name in config.dicom_names)
    queued = 0
    (data_dir / OUTBOX).mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    for dataset in datasets:
        relative = f"{OUTBOX}/{dataset.SOPInstanceUID}.dcm"
        write_private(data_dir / relative, _file_bytes(dataset))
        item = OutgoingObject(kind, str(dataset.SOPInstanceUID), *ids, payload_path=relative)
        queued += sum(outbox.enqueue(session, name, item) for name in config.dicom_names)
    return queued


def _queue_message(session: Session, destination: str, ids: Ids, kind: OutboxKind, build: Callable[[str], str]) -> int:
    """Queue the message ``build`` writes under a fresh key (MSH-10, or the bundle's key in the outbox)."""
    key = uuid.uuid4().hex[:CONTROL_ID_MAX_CHARS]
    try:
        text = build(key)
    except Exception as error:  # as above: the row is set aside with the reason
        logger.warning("study %d: %s not encoded: %s", ids[0], kind.value, type(error).__name__)
        message = str(error) if isinstance(error, JanusCxrError) else f"not encoded: {type(error).__name__}: {error}"
        return int(outbox.enqueue(session, destination, OutgoingObject(kind, key, *ids), error=message))
    return int(outbox.enqueue(session, destination, OutgoingObject(kind, key, *ids, payload_text=text)))


def _queue_unencodable(session: Session, config: OutboundConfig, study_id: int, report_id: int, error: str) -> int:
    """The report itself cannot be put into words for the receivers: one set-aside row per destination."""
    mllp_name, fhir_name = config.report_names
    targets = [(n, OutboxKind.REPORT_SR) for n in config.dicom_names] + [
        (n, k) for n, k in ((mllp_name, OutboxKind.ORU), (fhir_name, OutboxKind.FHIR)) if n is not None
    ]
    item = OutgoingObject(OutboxKind.REPORT_SR, str(generate_uid()), study_id, report_id)
    return sum(outbox.enqueue(session, name, item._replace(kind=kind), error=error) for name, kind in targets)


def _previous_sr(session: Session, data_dir: Path, report_id: int) -> Dataset | None:
    """The report SR queued last for ``report_id`` (an addendum's SR names it as its predecessor)."""
    paths = outbox.report_sr_paths(session, report_id)
    if not paths:
        return None
    return pydicom.dcmread(data_dir / paths[-1], stop_before_pixels=True)


def _ai_results(session: Session, report: Report) -> tuple[list[FindingResult], Algorithm | None]:
    ai_result = session.get(AiResult, report.ai_result_id) if report.ai_result_id else None
    if ai_result is None:
        return [], None
    return list(finding_results(ai_result.findings).values()), algorithm_of(ai_result.model_id, ai_result.model_version)


def _source_or_reason(data_dir: Path, image: Image | None) -> tuple[Dataset | None, str | None]:
    """The image's DICOM header, or why it cannot be read: (None, None) for a PNG or JPEG upload.

    A DICOM source that was deleted from the data folder, or no longer reads, gives the reason:
    the objects built on it are queued set aside with it, so that the admin page shows what was lost.
    """
    if image is None or not (_is_dicom(data_dir, image) or _is_missing_dicom(data_dir, image)):
        return None, None
    try:
        return read_dataset(data_dir / image.file_path, stop_before_pixels=True), None
    except JanusCxrError as error:
        return None, f"source image {image.file_path}: {error}"


def _required(source: Dataset | None, unreadable: str | None) -> Dataset:
    if source is None:
        raise ImageReadError(unreadable or "no DICOM source image; expected one in the study")
    return source


def _is_missing_dicom(data_dir: Path, image: Image) -> bool:
    """The image's file is gone (or unreadable) and its name does not say PNG or JPEG upload."""
    try:
        sniff_format(data_dir / image.file_path)
    except JanusCxrError:
        return Path(image.file_path).suffix.lower() not in _UPLOAD_SUFFIXES
    return False


def _is_dicom(data_dir: Path, image: Image) -> bool:
    try:
        return sniff_format(data_dir / image.file_path) == "dicom"
    except JanusCxrError:
        return False


def _file_bytes(dataset: Dataset) -> bytes:
    buffer = BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _display_name(session: Session, user_id: int | None) -> str:
    user = session.get(User, user_id) if user_id is not None else None
    return user.display_name or user.username if user is not None else "unknown"


def _utc(moment: datetime | None) -> datetime:
    if moment is None:
        return datetime.now(UTC)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _date(value: object) -> date | None:
    text = str(value or "")
    try:
        return datetime.strptime(text, "%Y%m%d").date() if len(text) == 8 else None
    except ValueError:
        return None


def _study_datetime(study_date: str | None, study_time: str | None) -> datetime | None:
    day = _date(study_date)
    if day is None:
        return None
    digits = (study_time or "").split(".")[0][:6].ljust(6, "0")
    try:
        return datetime.strptime(f"{day:%Y%m%d}{digits}", "%Y%m%d%H%M%S")
    except ValueError:
        return datetime(day.year, day.month, day.day)
