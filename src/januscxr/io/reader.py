"""One entry point for any chest radiograph file, and directory expansion."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from januscxr.errors import ImageReadError, ImageTooSmallError, LateralViewError
from januscxr.io.dicom import read_dicom
from januscxr.io.raster import read_raster
from januscxr.types import Image, ViewPosition

IMAGE_SUFFIXES = frozenset({".dcm", ".dicom", ".dic", ".png", ".jpg", ".jpeg"})
# The NIH ChestX-ray14 images we train on are 64 px; nothing smaller carries a reading.
MIN_SIDE_PX = 64

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_JPEG_MAGIC = b"\xff\xd8\xff"


def read_image(path: str | Path, *, require_frontal: bool = True) -> Image:
    """Read a DICOM, PNG or JPEG chest radiograph, recognised by its content.

    Parameters
    ----------
    path
        The file to read.
    require_frontal
        Refuse images whose DICOM View Position says lateral.

    Raises
    ------
    ImageReadError
        Missing, empty, unrecognised, truncated or corrupt file.
    UnsupportedImageError
        Wrong modality or body part, a lateral view, or an image too small to read.
    """
    path = Path(path)
    kind = sniff_format(path)
    image = read_dicom(path) if kind == "dicom" else read_raster(path)
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


def find_images(paths: Iterable[str | Path]) -> list[Path]:
    """Expand directories (recursively, sorted) into image files; keep files as given."""
    found: list[Path] = []
    for entry in map(Path, paths):
        if entry.is_dir():
            found.extend(sorted(p for p in entry.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES))
        else:
            found.append(entry)
    return found
