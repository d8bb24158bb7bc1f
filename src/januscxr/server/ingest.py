"""Ingest: uploaded or watched-folder files become stored images of studies, queued for the model.

Headers are read by :func:`januscxr.io.read_header`, the one place that knows file types and
header errors. DICOM files are grouped by Study Instance UID; each PNG or JPEG is a study of its
own. Pixels are not decoded here: that is the worker's job. A file whose content (sha256) or SOP
Instance UID was received before is reported as a duplicate of the stored image, not stored again.
"""

from __future__ import annotations

import logging
import shutil
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from pydicom.uid import generate_uid
from sqlalchemy.exc import IntegrityError

from januscxr.errors import ImageReadError, JanusCxrError
from januscxr.io import IMAGE_SUFFIXES, read_header
from januscxr.server.datafolder import IMAGES, copy_private, partial_path, place
from januscxr.storage import audit
from januscxr.storage.database import Database
from januscxr.storage.studies import StudyAttributes, add_image, add_study, find_received_image
from januscxr.storage.tables import Image, Study, User
from januscxr.types import ImageHeader, ViewPosition

logger = logging.getLogger(__name__)

MAX_NAME_CHARS = 255  # images.original_name
UID_MAX_CHARS = 64  # DICOM UI
_SUFFIXES = {"dicom": ".dcm", "png": ".png", "jpeg": ".jpg"}


@dataclass(frozen=True)
class IngestOutcome:
    """What became of one file: the study and image it joined (or duplicates), or why it was refused."""

    name: str
    study_id: int | None = None
    image_id: int | None = None
    duplicate: bool = False
    error: str | None = None


@dataclass(frozen=True)
class _Incoming:
    attributes: StudyAttributes
    sop_instance_uid: str
    view_position: str | None
    suffix: str


def ingest_file(
    db: Database,
    data_dir: Path,
    source: Path,
    *,
    name: str,
    origin: str = "upload",
    study_source: str | None = None,
    user: User | None = None,
) -> IngestOutcome:
    """Copy ``source`` into the data folder and record it with an ``ingest`` audit event.

    ``origin`` is "upload", "watch" or "dicom"; a study created by this file records
    ``study_source`` as where it came from ("dicom:<calling AE title>"), else ``origin``.

    A bad file gives an outcome with an error (naming the file by ``name``, never by a server
    path); only failures of the server itself (disk, database) raise.
    """
    name = safe_file_name(name, fallback="unnamed file")
    try:
        incoming = _describe(read_header(source), name)
        incoming = replace(incoming, attributes=replace(incoming.attributes, source=_clean(study_source or origin, 80)))
    except JanusCxrError as error:  # the reader sees what was wrong, by file name: no class name, no path
        return IngestOutcome(name=name, error=str(error).replace(str(source), name))
    partial = partial_path(data_dir / IMAGES, incoming.suffix)
    try:
        digest = copy_private(source, partial)
        try:
            return _store(db, data_dir, partial, incoming, digest=digest, name=name, origin=origin, user=user)
        except IntegrityError:  # PostgreSQL: a concurrent ingest stored the same study or file first
            return _store(db, data_dir, partial, incoming, digest=digest, name=name, origin=origin, user=user)
    finally:
        partial.unlink(missing_ok=True)


def _store(
    db: Database,
    data_dir: Path,
    partial: Path,
    incoming: _Incoming,
    *,
    digest: str,
    name: str,
    origin: str,
    user: User | None,
) -> IngestOutcome:
    relative = f"{IMAGES}/{uuid.uuid4().hex}{incoming.suffix}"
    target = data_dir / relative
    try:
        with db.write() as session:
            existing = find_received_image(session, content_sha256=digest, sop_instance_uid=incoming.sop_instance_uid)
            if existing is not None:
                return _duplicate(name, existing, same_content=existing.content_sha256 == digest)
            study, _ = add_study(session, incoming.attributes)
            image = add_image(
                session,
                study,
                sop_instance_uid=incoming.sop_instance_uid,
                file_path=relative,
                view_position=incoming.view_position,
                original_name=name,
                content_sha256=digest,
            )
            detail = {"source": origin, "image_id": image.id, "outcome": "stored"}
            audit.record_event(session, "ingest", user=user, study_id=study.id, detail=detail)
            place(partial, target)  # the file is in place before its row commits
            return IngestOutcome(name=name, study_id=study.id, image_id=image.id)
    except BaseException:
        if target.exists():  # rolled back: no row points at it; back to the partial name for a retry
            target.replace(partial)
        raise


def _duplicate(name: str, existing: Image, *, same_content: bool) -> IngestOutcome:
    if same_content:
        return IngestOutcome(name=name, study_id=existing.study_id, image_id=existing.id, duplicate=True)
    error = f"SOP Instance UID already received as image {existing.id} with other content; not stored"
    return IngestOutcome(name=name, study_id=existing.study_id, image_id=existing.id, duplicate=True, error=error)


def _describe(header: ImageHeader, name: str) -> _Incoming:
    suffix = _SUFFIXES[header.format]
    if header.format != "dicom":  # no header: the file name is what tells the reader which image it is
        attributes = StudyAttributes(study_instance_uid=generate_uid(), study_description=_clean(name, 64))
        return _Incoming(attributes, generate_uid(), None, suffix)
    attributes = StudyAttributes(
        study_instance_uid=_uid(header.study_instance_uid, "StudyInstanceUID") or generate_uid(),
        accession_number=_clean(header.accession_number, 64),
        patient_id=_clean(header.patient_id, 64),
        patient_name=_clean(header.patient_name, 128),
        patient_sex=header.patient_sex.value or None,
        patient_age_years=header.patient_age_years,
        study_date=_clean(header.study_date, 8),
        study_time=_clean(header.study_time, 16),
        study_description=_clean(header.study_description, 64),
    )
    view = None if header.view_position is ViewPosition.UNKNOWN else header.view_position.value
    sop_uid = _uid(header.sop_instance_uid, "SOPInstanceUID") or generate_uid()
    return _Incoming(attributes, sop_uid, view, suffix)


def _uid(value: str | None, keyword: str) -> str | None:
    uid = _clean(value, None)
    if uid is not None and len(uid) > UID_MAX_CHARS:
        raise ImageReadError(f"{keyword} is {len(uid)} characters long; expected a UID of at most {UID_MAX_CHARS}")
    return uid


def _clean(value: str | None, max_chars: int | None) -> str | None:
    # Header text lands in database columns: no control characters (PostgreSQL refuses NUL), bounded.
    text = "".join(ch for ch in value or "" if ch.isprintable()).strip()
    return text[:max_chars] or None


def safe_file_name(raw: str | None, *, fallback: str) -> str:
    """An uploaded file's name as safe to store and show: its last path part, printable, at most 255 chars."""
    last = (raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    text = "".join(ch for ch in last if ch.isprintable()).strip()
    return text[:MAX_NAME_CHARS] or fallback


class FolderWatcher:
    """Polls a folder; files whose size held still for one interval are ingested, then moved
    to ``processed/`` or ``failed/`` beside them. No file can stop the watch thread."""

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

    @property
    def is_alive(self) -> bool:
        return self._thread.is_alive()

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
            outcome = self._ingest_safely(path)
            self._move(path, "failed" if outcome.error and not outcome.duplicate else "processed")
            outcomes.append(outcome)
        self._sizes = seen
        return outcomes

    def _ingest_safely(self, path: Path) -> IngestOutcome:
        name = safe_file_name(path.name, fallback="unnamed file")
        try:
            return self._ingest(path)
        except Exception:  # one file must never stop the thread; the next ones still arrive
            logger.exception("watched file not ingested: internal error")
            return IngestOutcome(name=name, error="internal error while storing the file; not stored")

    def _move(self, path: Path, folder: str) -> None:
        destination = self.folder / folder
        try:
            destination.mkdir(exist_ok=True)
            shutil.move(str(path), destination / path.name)
        except OSError as error:
            logger.warning("watched file not moved to %s/: %s", folder, error.strerror or type(error).__name__)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.poll()
            except Exception:  # e.g. the folder was removed; try again next interval
                logger.exception("watched folder poll failed")


def study_label(study: Study) -> str:
    """How a study is named on screen: its accession number, else the end of its UID."""
    return study.accession_number or f"…{study.study_instance_uid[-12:]}"
