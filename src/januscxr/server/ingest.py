"""Ingest: uploaded or watched-folder files become stored images of studies, queued for the model.

DICOM files are grouped by Study Instance UID (read from the header alone); each PNG or
JPEG is a study of its own. Pixels are not decoded here: that is the worker's job.
"""

from __future__ import annotations

import logging
import shutil
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pydicom
from pydicom.errors import InvalidDicomError
from pydicom.uid import generate_uid

from januscxr.errors import ImageReadError, JanusCxrError
from januscxr.io import IMAGE_SUFFIXES
from januscxr.io.dicom import parse_age_string
from januscxr.storage.database import Database
from januscxr.storage.studies import StudyAttributes, add_image, add_study, image_exists
from januscxr.storage.tables import Study

logger = logging.getLogger(__name__)

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_JPEG_MAGIC = b"\xff\xd8\xff"


@dataclass(frozen=True)
class IngestOutcome:
    """What became of one file: the study and image it joined, or why it was refused."""

    name: str
    study_id: int | None = None
    image_id: int | None = None
    duplicate: bool = False
    error: str | None = None


def ingest_file(db: Database, data_dir: Path, source: Path, *, name: str) -> IngestOutcome:
    """Copy ``source`` into the data folder and record it; never raises on a bad file."""
    try:
        kind, attributes, sop_uid, view = _describe(source)
    except JanusCxrError as error:
        return IngestOutcome(name=name, error=f"{type(error).__name__}: {_strip_path(str(error), source)}")
    relative = Path("images") / f"{uuid.uuid4().hex}{'.dcm' if kind == 'dicom' else source.suffix.lower() or '.img'}"
    with db.write() as session:
        if image_exists(session, sop_uid):
            return IngestOutcome(name=name, duplicate=True, error="already received (same SOP Instance UID)")
        target = data_dir / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        study, _ = add_study(session, attributes)
        image = add_image(session, study, sop_instance_uid=sop_uid, file_path=str(relative), view_position=view)
        return IngestOutcome(name=name, study_id=study.id, image_id=image.id)


def _describe(source: Path) -> tuple[str, StudyAttributes, str, str | None]:
    with source.open("rb") as handle:
        head = handle.read(132)
    if head.startswith(_PNG_MAGIC) or head.startswith(_JPEG_MAGIC):
        uid = generate_uid()
        return "raster", StudyAttributes(study_instance_uid=uid), generate_uid(), None
    if head[128:132] != b"DICM" and source.suffix.lower() not in {".dcm", ".dicom", ".dic"}:
        raise ImageReadError("not an image; expected DICOM, PNG or JPEG")
    try:
        dataset = pydicom.dcmread(source, stop_before_pixels=True)
    except (InvalidDicomError, OSError, ValueError, EOFError) as error:
        raise ImageReadError(f"not a readable DICOM file ({error})") from error
    study_uid = str(dataset.get("StudyInstanceUID", "") or "") or generate_uid()
    attributes = StudyAttributes(
        study_instance_uid=study_uid,
        accession_number=_text(dataset, "AccessionNumber"),
        patient_id=_text(dataset, "PatientID"),
        patient_name=_text(dataset, "PatientName"),
        patient_sex=(_text(dataset, "PatientSex") or "")[:1] or None,
        patient_age_years=parse_age_string(_text(dataset, "PatientAge")),
        study_date=_text(dataset, "StudyDate"),
    )
    sop_uid = _text(dataset, "SOPInstanceUID") or generate_uid()
    return "dicom", attributes, sop_uid, _text(dataset, "ViewPosition")


def _text(dataset: pydicom.Dataset, keyword: str) -> str | None:
    value = dataset.get(keyword)
    return str(value).strip()[:64] or None if value not in (None, "") else None


def _strip_path(message: str, source: Path) -> str:
    # Uploaded files live under temporary names; the user knows the file by its own name.
    return message.replace(f"{source}: ", "").replace(str(source), "file")


class FolderWatcher:
    """Polls a folder; files whose size held still for one interval are ingested, then moved
    to ``processed/`` or ``failed/`` beside them."""

    def __init__(
        self,
        folder: Path,
        interval_s: float,
        ingest: Callable[[Path], IngestOutcome],
    ) -> None:
        self.folder = folder
        self.interval_s = interval_s
        self._ingest = ingest
        self._sizes: dict[Path, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="januscxr-watch", daemon=True)

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def poll(self) -> list[IngestOutcome]:
        """One pass over the folder; returns what was ingested."""
        outcomes = []
        seen: dict[Path, int] = {}
        for path in sorted(self.folder.iterdir()):
            if not path.is_file() or path.name.startswith("."):
                continue
            if path.suffix.lower() not in IMAGE_SUFFIXES and path.suffix:
                continue
            size = path.stat().st_size
            if self._sizes.get(path) != size:
                seen[path] = size  # still being written, or new: wait one interval
                continue
            outcome = self._ingest(path)
            destination = self.folder / ("failed" if outcome.error and not outcome.duplicate else "processed")
            destination.mkdir(exist_ok=True)
            shutil.move(str(path), destination / path.name)
            outcomes.append(outcome)
        self._sizes = seen
        return outcomes

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.poll()
            except OSError as error:
                logger.warning("watched folder poll failed: %s", error.strerror or type(error).__name__)


def study_label(study: Study) -> str:
    """How a study is named on screen: its accession number, else the end of its UID."""
    return study.accession_number or f"…{study.study_instance_uid[-12:]}"
