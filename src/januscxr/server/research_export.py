"""The research export: selected studies' images and signed reports written to a folder, de-identified on request.

Layout of the folder (files 0600, folders 0700)::

    manifest.csv                       one row per exported image (MANIFEST_COLUMNS)
    <patient>/<study>/image-01.dcm     de-identified: pseudonyms P..., S...; otherwise study-<id>/
    <patient>/<study>/report.json      only for studies whose report is signed or amended

An image that cannot be read is named in :attr:`ExportOutcome.skipped` and the rest go on; one
with Burned In Annotation YES (or presumed: a Secondary Capture, SCREEN or REPORT image that does
not say) is withheld unless :attr:`ExportOptions.include_burned_in`.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pydicom
from pydicom.errors import InvalidDicomError

from januscxr.errors import ConfigurationError, ImageReadError
from januscxr.interop.deidentify import (
    PRESUMED_BURNED_IN,
    Deidentifier,
    burned_in_annotation,
    deidentify_dataset,
    identifying_values,
)
from januscxr.interop.image_metadata import JPEG_SOI, PNG_SIGNATURE, strip_metadata
from januscxr.interop.redaction import known_identifiers, redact_text
from januscxr.server.datafolder import PRIVATE_DIR, write_private
from januscxr.storage.database import Database
from januscxr.storage.exports import ExportImage, ExportReport, ExportStudy, export_study

MANIFEST = "manifest.csv"
REPORT = "report.json"
MANIFEST_COLUMNS = (
    "patient_id",
    "study_id",
    "study_date",
    "image_file",
    "view_position",
    "burned_in_annotation",
    "report_file",
    "report_status",
)


@dataclass(frozen=True)
class ExportOptions:
    """``deidentifier`` None: images and reports as stored. Burned-in images are withheld unless included."""

    deidentifier: Deidentifier | None = None
    include_burned_in: bool = False


@dataclass
class ExportOutcome:
    studies: int = 0
    images: int = 0
    reports: int = 0
    skipped: list[str] = field(default_factory=list)  # "<image name>: <why>"
    withheld: list[str] = field(default_factory=list)  # burned-in annotation, not included
    flagged: list[str] = field(default_factory=list)  # burned-in annotation, included on request


def prepare_out_dir(out: Path, data_dir: Path) -> None:
    """Create ``out`` (0700); refuse a link, a folder inside the data folder or holding it, and a non-empty one."""
    if out.is_symlink():
        raise ConfigurationError(f"--out {out}: is a link; expected a real new or empty folder")
    where, data = out.resolve(), data_dir.resolve()
    if where.is_relative_to(data) or data.is_relative_to(where):
        raise ConfigurationError(
            f"--out {out}: inside or holding the data folder {data_dir}; expected a folder outside it"
        )
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigurationError(f"--out {out}: exists and is not an empty folder; expected a new or empty folder")
    out.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    out.chmod(PRIVATE_DIR)


def export_studies(
    db: Database,
    data_dir: Path,
    study_ids: Iterable[int],
    out: Path,
    *,
    options: ExportOptions,
    advance: Callable[[], None] = lambda: None,
) -> ExportOutcome:
    """Write each study to ``out`` (which :func:`prepare_out_dir` has made) and the manifest; ``advance`` per study."""
    outcome, rows = ExportOutcome(), []
    for study_id in study_ids:
        with db.read() as session:
            record = export_study(session, study_id)
        rows += _StudyExport(record, data_dir, out, options, outcome).run()
        outcome.studies += 1
        advance()
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_private(out / MANIFEST, buffer.getvalue().encode())
    return outcome


def write_key_file(path: Path, deidentifier: Deidentifier) -> None:
    """The mapping from original identifiers to pseudonyms and UIDs (kind, original, pseudonym); never date offsets."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(("kind", "original", "pseudonym"))
    writer.writerows(deidentifier.key_entries())
    write_private(path, buffer.getvalue().encode())


class _StudyExport:
    def __init__(
        self, record: ExportStudy, data_dir: Path, out: Path, options: ExportOptions, outcome: ExportOutcome
    ) -> None:
        self.record, self.data_dir, self.options, self.outcome = record, data_dir, options, outcome
        self.deid = options.deidentifier
        self.patient_key = record.patient_id or f"study:{record.study_instance_uid}"
        if self.deid is not None:
            self.patient = self.deid.patient_id(self.patient_key)
            self.study = self.deid.study_id(record.study_instance_uid)
            self.folder = out / self.patient / self.study
        else:
            self.patient, self.study = record.patient_id or "", record.study_instance_uid
            self.folder = out / f"study-{record.id}"
        self.out = out
        report = record.report
        self.known = known_identifiers(
            names=[record.patient_name, *(_people(report) if report else ())],
            patient_ids=[record.patient_id],
            other={
                v: p for v, p in ((record.accession_number, "[ACCESSION]"), (record.study_instance_uid, "[UID]")) if v
            },
        )

    def run(self) -> list[dict[str, str]]:
        self.folder.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
        images = [row for n, image in enumerate(self.record.images, 1) if (row := self._image(n, image)) is not None]
        report_file = ""
        if self.record.report is not None:
            write_private(self.folder / REPORT, json.dumps(self._report(self.record.report), indent=2).encode())
            report_file = (self.folder / REPORT).relative_to(self.out).as_posix()
            self.outcome.reports += 1
        common = {
            "patient_id": self.patient,
            "study_id": self.study,
            "study_date": self._study_date(),
            "report_file": report_file,
            "report_status": self.record.report_status,
        }
        return [{**common, **image} for image in images] or [{**common, "image_file": ""}]

    def _image(self, number: int, image: ExportImage) -> dict[str, str] | None:
        name = image.original_name or image.file_path
        try:
            data = (self.data_dir / image.file_path).read_bytes()
            target, content, burned_in = self._image_content(number, data, name)
        except (OSError, ImageReadError) as error:
            self.outcome.skipped.append(f"{name}: {getattr(error, 'strerror', None) or error}")
            return None
        if burned_in in ("YES", PRESUMED_BURNED_IN):
            why = "YES" if burned_in == "YES" else "missing, presumed YES (Secondary Capture, SCREEN or REPORT image)"
            if not self.options.include_burned_in:
                self.outcome.withheld.append(f"{name}: Burned In Annotation {why}")
                return None
            self.outcome.flagged.append(f"{name}: Burned In Annotation {why}")
        write_private(target, content)
        self.outcome.images += 1
        return {
            "image_file": target.relative_to(self.out).as_posix(),
            "view_position": image.view_position or "",
            "burned_in_annotation": burned_in,
        }

    def _image_content(self, number: int, data: bytes, name: str) -> tuple[Path, bytes, str]:
        """(target file, bytes to write, Burned In Annotation) of one stored image."""
        if data.startswith((PNG_SIGNATURE, JPEG_SOI)):
            suffix = ".png" if data.startswith(PNG_SIGNATURE) else ".jpg"
            content = strip_metadata(data, name=name) if self.deid is not None else data
            return self.folder / f"image-{number:02d}{suffix}", content, ""
        try:
            dataset = pydicom.dcmread(io.BytesIO(data))
        except (InvalidDicomError, ValueError, EOFError) as error:
            raise ImageReadError(f"{name}: not a readable DICOM, PNG or JPEG file ({error})") from error
        burned_in = burned_in_annotation(dataset)
        target = self.folder / f"image-{number:02d}.dcm"
        if self.deid is None:
            return target, data, burned_in
        self.known.update(identifying_values(dataset))
        deidentify_dataset(dataset, self.deid, patient_key=self.patient_key, study_key=self.record.study_instance_uid)
        buffer = io.BytesIO()
        dataset.save_as(buffer, enforce_file_format=True)
        return target, buffer.getvalue(), burned_in

    def _study_date(self) -> str:
        value = self.record.study_date or ""
        if self.deid is None:
            return value
        if not self.deid.shift_dates:
            return ""
        try:
            return self.deid.shift(datetime.strptime(value, "%Y%m%d").date(), self.patient_key).isoformat()
        except ValueError:
            return ""

    def _report(self, report: ExportReport) -> dict[str, Any]:
        if self.deid is None:
            identity = {"patient_id": self.patient, "accession_number": self.record.accession_number}
            return {"study_instance_uid": self.study, **identity, **_report_values(report, str, _iso, str)}
        deid = self.deid
        values = _report_values(report, deid.reader, self._when, lambda text: redact_text(text, self.known))
        return {"patient_id": self.patient, "study_id": self.study, **values}

    def _when(self, when: datetime) -> str | None:
        """A signature's time: shifted with the patient's dates, or left out when dates are removed."""
        if self.deid is None or not self.deid.shift_dates:
            return None
        return _iso(self.deid.shift(when, self.patient_key))


def _report_values(
    report: ExportReport,
    person: Callable[[str], str],
    when: Callable[[datetime], str | None],
    text: Callable[[str], str],
) -> dict[str, Any]:
    return {
        "status": report.status,
        "findings": text(report.findings),
        "impression": text(report.impression),
        "signed_by": person(report.signed_by) if report.signed_by else None,
        "signed_at": when(report.signed_at) if report.signed_at else None,
        "cosigned_by": person(report.cosigned_by) if report.cosigned_by else None,
        "cosigned_at": when(report.cosigned_at) if report.cosigned_at else None,
        "addenda": [
            {"author": person(a.author), "created_at": when(a.created_at), "text": text(a.text)} for a in report.addenda
        ],
    }


def _people(report: ExportReport) -> list[str]:
    return [name for name in (report.signed_by, report.cosigned_by, *(a.author for a in report.addenda)) if name]


def _iso(when: date | datetime) -> str:
    return when.isoformat()
