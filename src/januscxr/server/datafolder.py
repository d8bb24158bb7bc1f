"""The data folder: private modes, crash-safe writes, the upload spool and start-up reconciliation.

Layout under ``data_dir`` (folders 0700, files 0600: they hold patient images)::

    images/      uploaded and watched files, one per image row
    display/     8-bit PNGs the viewer shows
    spool/       uploads being received (emptied at start)
    quarantine/  files found in images/ that no row references (after a crash)

A file is written under a ``.partial-`` name, fsynced, renamed into place and only then is its
row committed. After ``kill -9`` at any point the folder holds at worst a partial file (removed
at start) or a placed file with no row (moved to quarantine at start); never a row without a file.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from io import BufferedWriter
from pathlib import Path

from januscxr.storage.database import Database
from januscxr.storage.studies import get_image, image_files, record_ai_failure

logger = logging.getLogger(__name__)

IMAGES, DISPLAY, SPOOL, QUARANTINE = "images", "display", "spool", "quarantine"
PRIVATE_DIR, PRIVATE_FILE = 0o700, 0o600
PARTIAL_PREFIX = ".partial-"
_BLOCK = 1 << 20


def prepare_data_dir(data_dir: Path) -> None:
    """Create the data folder and its subfolders 0700; tighten what earlier versions made 0755/0644."""
    for folder in (data_dir, *(data_dir / name for name in (IMAGES, DISPLAY, SPOOL))):
        folder.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
        folder.chmod(PRIVATE_DIR)
    for name in (IMAGES, DISPLAY, QUARANTINE):
        if (data_dir / name).is_dir():
            (data_dir / name).chmod(PRIVATE_DIR)
            for path in (data_dir / name).iterdir():
                if path.is_file():
                    path.chmod(PRIVATE_FILE)


def partial_path(folder: Path, suffix: str = "") -> Path:
    """A fresh temporary name inside ``folder``, recognised (and removed) at start."""
    return folder / f"{PARTIAL_PREFIX}{uuid.uuid4().hex}{suffix}"


def copy_private(source: Path, target: Path) -> str:
    """Copy ``source`` to a new 0600 file ``target``, fsynced; returns the content's sha256."""
    digest = hashlib.sha256()
    with source.open("rb") as reader, _open_private(target) as writer:
        while block := reader.read(_BLOCK):
            digest.update(block)
            writer.write(block)
        writer.flush()
        os.fsync(writer.fileno())
    return digest.hexdigest()


def write_private(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` (0600) through a partial file: readers never see half a file."""
    partial = partial_path(target.parent, target.suffix)
    try:
        with _open_private(partial) as writer:
            writer.write(data)
            writer.flush()
            os.fsync(writer.fileno())
        place(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def place(partial: Path, target: Path) -> None:
    """Rename a finished partial file to its final name and make the rename durable."""
    partial.replace(target)
    directory = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _open_private(path: Path) -> BufferedWriter:
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE), "wb")


@contextmanager
def spool_folder(data_dir: Path) -> Iterator[Path]:
    """A private folder under ``<data_dir>/spool`` for one request's uploads, removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="upload-", dir=data_dir / SPOOL))  # mkdtemp makes it 0700
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@dataclass(frozen=True)
class Reconciliation:
    """What start-up found left over by a crash."""

    partial_files: int = 0
    spooled: int = 0
    quarantined: int = 0
    missing: int = 0


def reconcile_data_dir(db: Database, data_dir: Path) -> Reconciliation:
    """Make the folder and the database agree after a crash; run before anything is ingested.

    Partial files and spooled uploads are removed (no row can point at them, and no client was
    told they were stored). A placed image no row references is moved to ``quarantine/``, not
    deleted: it is the only copy of an upload whose reply never reached its client, and an
    administrator can upload it again or delete it. A row whose file is gone is marked failed.
    """
    spooled = _empty(data_dir / SPOOL)
    partials = sum(_unlink(p) for name in (IMAGES, DISPLAY) for p in (data_dir / name).glob(f"{PARTIAL_PREFIX}*"))
    with db.read() as session:
        rows = image_files(session)
    referenced = {row.file_path for row in rows} | {row.display_path for row in rows if row.display_path}
    quarantined = 0
    for path in sorted((data_dir / IMAGES).iterdir()):
        if path.is_file() and f"{IMAGES}/{path.name}" not in referenced:
            (data_dir / QUARANTINE).mkdir(mode=PRIVATE_DIR, exist_ok=True)
            path.replace(data_dir / QUARANTINE / path.name)
            quarantined += 1
    for path in (data_dir / DISPLAY).iterdir():  # derived from an image; made again when needed
        if path.is_file() and f"{DISPLAY}/{path.name}" not in referenced:
            path.unlink(missing_ok=True)
    missing = [row for row in rows if row.error is None and not (data_dir / row.file_path).is_file()]
    if missing:
        with db.write() as session:
            for row in missing:
                name = row.original_name or f"image {row.id}"
                message = f"{name}: the stored file is missing from the data folder; upload it again"
                record_ai_failure(session, get_image(session, row.id), message)
    result = Reconciliation(partials, spooled, quarantined, len(missing))
    if result != Reconciliation():
        logger.warning("data folder reconciled after an unclean stop: %s", result)
    return result


def _empty(folder: Path) -> int:
    count = 0
    for path in folder.iterdir():
        count += 1
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    return count


def _unlink(path: Path) -> int:
    path.unlink(missing_ok=True)
    return 1
