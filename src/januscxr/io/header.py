"""A file's header without its pixels: the one place that reads identifiers for ingest and the CLI.

pydicom parses element values lazily, so a malformed element (an unknown VR, a length past the
end of the file) raises only when it is read. Every value is read here through the guards of
:mod:`januscxr.io.attributes`, and a failure becomes an :class:`~januscxr.errors.ImageReadError`
naming the file and the attribute.
"""

from __future__ import annotations

import sys
from pathlib import Path

from januscxr.io.attributes import dicom_header
from januscxr.io.dicom import read_dataset
from januscxr.io.raster import open_raster
from januscxr.io.reader import sniff_format
from januscxr.types import ImageHeader

__all__ = ["dicom_header", "read_header"]


def read_header(path: str | Path) -> ImageHeader:
    """Read the header of a DICOM, PNG or JPEG file (recognised by content), not its pixels.

    The pixel limit is not applied here: the header of an image too large to decode is still
    read, and :func:`~januscxr.io.read_image` refuses its pixels.

    Raises
    ------
    ImageReadError
        Missing, unreadable or unrecognised file, or a header element that cannot be parsed.
    """
    path = Path(path)
    kind = sniff_format(path)
    if kind != "dicom":
        return _raster_header(path, kind)
    dataset = read_dataset(path, stop_before_pixels=True)
    return dicom_header(dataset, path)


def _raster_header(path: Path, kind: str) -> ImageHeader:
    with open_raster(path, kind=kind, max_pixels=sys.maxsize) as opened:  # reads the header only
        columns, rows = opened.size
    return ImageHeader(source=str(path), format=kind, rows=rows, columns=columns)
