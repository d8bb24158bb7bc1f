"""One entry point for any chest radiograph file, and directory expansion."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from januscxr.errors import ImageReadError, ImageTooSmallError, JanusCxrError, LateralViewError
from januscxr.io.attributes import short_reason
from januscxr.io.dicom import read_dicom
from januscxr.io.limits import DEFAULT_MAX_SIDE_PX
from januscxr.io.raster import read_raster
from januscxr.types import Image, ViewPosition

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".dcm", ".dicom", ".dic", ".png", ".jpg", ".jpeg"})
# The NIH ChestX-ray14 images we train on are 64 px; nothing smaller carries a reading.
MIN_SIDE_PX = 64

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_JPEG_MAGIC = b"\xff\xd8\xff"


def read_image(
    path: str | Path,
    *,
    require_frontal: bool = True,
    max_pixels: int | None = None,
    max_side_px: int | None = DEFAULT_MAX_SIDE_PX,
) -> Image:
    """Read a DICOM, PNG or JPEG chest radiograph, recognised by its content.

    Parameters
    ----------
    path
        The file to read.
    require_frontal
        Refuse images whose DICOM View Position says lateral.
    max_pixels
        Refuse images with more pixels (rows x columns x frames), before decoding. Default: the
        limit in force, :data:`~januscxr.io.limits.DEFAULT_MAX_PIXELS` (60 megapixels) unless set
        by :func:`~januscxr.io.limits.pixel_limit`.
    max_side_px
        JPEG and JPEG 2000 images over twice this long side are decoded at a lower resolution,
        never below it (see :data:`~januscxr.io.limits.DEFAULT_MAX_SIDE_PX`); None decodes in full.

    Raises
    ------
    ImageReadError
        Missing, empty, unrecognised, truncated or corrupt file.
    ImageTooLargeError
        More pixels than ``max_pixels``.
    UnsupportedImageError
        Wrong modality or body part, a lateral view, or an image too small to read.
    """
    path = Path(path)
    kind = sniff_format(path)
    reader = read_dicom if kind == "dicom" else read_raster
    try:
        image = reader(path, max_pixels=max_pixels, max_side_px=max_side_px)
    except JanusCxrError:
        raise
    except (MemoryError, RecursionError) as error:
        raise ImageReadError(
            f"{path}: {type(error).__name__} while decoding; the file is damaged or too large"
        ) from error
    except Exception as error:
        # The final guard: every failure known to the readers is turned into ImageReadError where it
        # happens (and the fuzz tests in tests/io/test_fuzz.py look for new ones); an unexpected
        # decoder exception still costs one file, not the batch, and is logged with its traceback.
        logger.warning("%s: unexpected %s from the %s reader", path, type(error).__name__, kind, exc_info=True)
        raise ImageReadError(f"{path}: cannot decode {kind.upper()} file ({short_reason(error)})") from error
    _check_readable(image, path, require_frontal=require_frontal)
    return image


ImageFormat = Literal["dicom", "png", "jpeg"]


def sniff_format(path: str | Path) -> ImageFormat:
    """The file's format from its first bytes (a DICOM without preamble is known by its suffix).

    Raises
    ------
    ImageReadError
        Missing, unreadable, empty or not DICOM, PNG or JPEG.
    """
    path = Path(path)
    head = _read_head(path)
    if head.startswith(_PNG_MAGIC):
        return "png"
    if head.startswith(_JPEG_MAGIC):
        return "jpeg"
    if head[128:132] == b"DICM" or path.suffix.lower() in {".dcm", ".dicom", ".dic"}:
        return "dicom"
    raise ImageReadError(f"{path}: not an image; expected DICOM, PNG or JPEG")


def _read_head(path: Path) -> bytes:
    try:
        with path.open("rb") as handle:
            head = handle.read(132)
    except IsADirectoryError as error:
        raise ImageReadError(f"{path}: is a directory; expected an image file") from error
    except OSError as error:
        raise ImageReadError(f"{path}: cannot open ({error.strerror or error})") from error
    if not head:
        raise ImageReadError(f"{path}: empty file (0 bytes); expected DICOM, PNG or JPEG")
    return head


def _check_readable(image: Image, path: Path, *, require_frontal: bool) -> None:
    rows, columns = image.shape
    if min(rows, columns) < MIN_SIDE_PX:
        raise ImageTooSmallError(f"{path}: image is {columns}x{rows} px; expected at least {MIN_SIDE_PX} px a side")
    if require_frontal and image.view_position is ViewPosition.LATERAL:
        raise LateralViewError(f"{path}: View Position is lateral; expected a frontal PA or AP view")


@dataclass(frozen=True)
class ImageSearch:
    """The files found under the paths given, and the paths that could not be searched."""

    files: list[Path] = field(default_factory=list)
    errors: list[tuple[Path, ImageReadError]] = field(default_factory=list)


def search_images(paths: Iterable[str | Path]) -> ImageSearch:
    """Expand folders (recursively, sorted) into image files; keep files as given.

    In a folder, a file is taken when its suffix is an image suffix (a damaged one then gets its
    own read error) or when its first bytes are a PNG, JPEG or DICOM signature (a DICOM named
    without ``.dcm``); other files are skipped. A file whose first bytes cannot be read is taken,
    so that reading it reports why. A folder that cannot be listed is an error of its own.
    """
    search = ImageSearch()
    for entry in map(Path, paths):
        if not entry.is_dir():
            search.files.append(entry)
            continue
        found: list[Path] = []

        def unlisted(error: OSError, folder: Path = entry) -> None:
            place = Path(error.filename) if error.filename else folder
            message = f"{place}: cannot list folder ({error.strerror or error})"
            search.errors.append((place, ImageReadError(message)))

        for root, folders, names in os.walk(entry, onerror=unlisted):
            folders.sort()
            found.extend(p for p in map(Path(root).joinpath, names) if _looks_like_image(p))
        search.files.extend(sorted(found))
    return search


def find_images(paths: Iterable[str | Path]) -> list[Path]:
    """Expand folders into image files (see :func:`search_images`); folders that cannot be listed are left out."""
    return search_images(paths).files


def _looks_like_image(path: Path) -> bool:
    if not path.is_file():
        return False
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return True
    try:
        with path.open("rb") as handle:
            head = handle.read(132)
    except OSError:
        return True  # unreadable: reading it will say why
    return head.startswith((_PNG_MAGIC, _JPEG_MAGIC)) or head[128:132] == b"DICM"
