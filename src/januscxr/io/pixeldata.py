"""DICOM Pixel Data: its declared layout, checked against the bytes present, and decoded.

The layout attributes (Rows, Columns, frames, samples, bits) are read through the guards of
:mod:`januscxr.io.attributes` and checked before any decoding: the pixel limit, then, for
native (uncompressed) transfer syntaxes, the byte count the layout implies against the bytes
present, so that a truncated file or a wrong Rows value is refused instead of being reshaped
into a few-pixel-wide image. JPEG 2000 objects larger than twice the requested long side are
decoded at a lower resolution level through Pillow's OpenJPEG (``Image.reduce``), since
pylibjpeg-openjpeg, pydicom's JPEG 2000 plugin, decodes only at full resolution.
"""

from __future__ import annotations

import io
import logging
import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from openjpeg.utils import get_parameters as j2k_parameters
from PIL import Image as PILImage
from pydicom.dataset import Dataset
from pydicom.encaps import get_frame
from pydicom.pixels.utils import pixel_array
from pydicom.uid import (
    HTJ2K,
    JPEG2000,
    UID,
    HTJ2KLossless,
    HTJ2KLosslessRPCL,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
)

from januscxr.errors import ImageReadError
from januscxr.io.attributes import guarded_int, guarded_text, guarded_value, short_reason
from januscxr.io.limits import check_pixel_count, reduction_levels

logger = logging.getLogger(__name__)

_JPEG2000_SYNTAXES = frozenset({JPEG2000Lossless, JPEG2000, HTJ2KLossless, HTJ2KLosslessRPCL, HTJ2K})
_BITS_ALLOCATED = frozenset({1, 8, 16, 32, 64})


@dataclass(frozen=True)
class PixelLayout:
    """What the header says the Pixel Data holds."""

    rows: int
    columns: int
    frames: int
    samples_per_pixel: int
    bits_allocated: int
    pixel_representation: int
    transfer_syntax: UID

    @property
    def expected_bytes(self) -> int:
        """Bytes of native (uncompressed) Pixel Data, without the even-length pad byte."""
        bits = self.rows * self.columns * self.samples_per_pixel * self.frames * self.bits_allocated
        return math.ceil(bits / 8)


def read_layout(dataset: Dataset, path: Path) -> PixelLayout:
    """The Pixel Data layout from the header; ImageReadError naming a missing or malformed attribute."""
    sizes = {keyword: guarded_int(dataset, keyword, path) for keyword in ("Rows", "Columns", "BitsAllocated")}
    for keyword, value in sizes.items():
        if value is None or value < 1:
            raise ImageReadError(f"{path}: DICOM attribute {keyword} is {value}; expected a positive number")
    bits = sizes["BitsAllocated"] or 0
    if bits not in _BITS_ALLOCATED:
        raise ImageReadError(f"{path}: DICOM attribute BitsAllocated is {bits}; expected 1, 8, 16, 32 or 64")
    samples = guarded_int(dataset, "SamplesPerPixel", path, default=1) or 1
    if samples not in (1, 3):
        raise ImageReadError(f"{path}: DICOM attribute SamplesPerPixel is {samples}; expected 1 or 3")
    meta = getattr(dataset, "file_meta", None)
    syntax = UID(guarded_text(meta, "TransferSyntaxUID", path) or ImplicitVRLittleEndian) if meta is not None else None
    if syntax is not None and not _is_transfer_syntax(syntax):
        raise ImageReadError(f"{path}: Transfer Syntax UID {syntax!r} is not a transfer syntax pydicom knows")
    return PixelLayout(
        rows=sizes["Rows"] or 0,
        columns=sizes["Columns"] or 0,
        frames=max(guarded_int(dataset, "NumberOfFrames", path, default=1) or 1, 1),
        samples_per_pixel=samples,
        bits_allocated=bits,
        pixel_representation=guarded_int(dataset, "PixelRepresentation", path, default=0) or 0,
        transfer_syntax=syntax or ImplicitVRLittleEndian,
    )


def _is_transfer_syntax(uid: UID) -> bool:
    try:
        return bool(uid.is_transfer_syntax) and uid.is_encapsulated in (True, False)
    except ValueError:  # a private or unknown UID: pydicom cannot tell how its pixels are encoded
        return False


def check_pixel_data(dataset: Dataset, path: Path, layout: PixelLayout, *, max_pixels: int | None) -> None:
    """Refuse an image over the pixel limit, or native Pixel Data of the wrong length, before decoding."""
    check_pixel_count(path, layout.columns, layout.rows, frames=layout.frames, max_pixels=max_pixels)
    if layout.transfer_syntax.is_encapsulated or "PixelData" not in dataset:
        return
    received = len(guarded_value(dataset, "PixelData", path) or b"")  # type: ignore[arg-type]
    expected = layout.expected_bytes
    shape = (
        f"{layout.columns}x{layout.rows} px x {layout.samples_per_pixel} sample(s) x "
        f"{layout.bits_allocated} bits x {layout.frames} frame(s)"
    )
    if received < expected:
        raise ImageReadError(f"{path}: truncated: Pixel Data has {received} bytes, expected {expected} ({shape})")
    if received > expected + 1:  # one pad byte makes an odd length even
        raise ImageReadError(
            f"{path}: Pixel Data has {received} bytes but Rows, Columns and Bits Allocated say "
            f"{expected} ({shape}); the header does not describe these pixels"
        )


def decode_first_frame(
    dataset: Dataset, path: Path, layout: PixelLayout, *, max_side_px: int | None, max_pixels: int | None
) -> tuple[np.ndarray, int]:
    """The stored values of the first frame and how many times each side was halved in decoding."""
    if layout.transfer_syntax in _JPEG2000_SYNTAXES:
        reduced = _decode_jpeg2000_reduced(dataset, path, layout, max_side_px=max_side_px, max_pixels=max_pixels)
        if reduced is not None:
            return reduced
    if layout.frames > 1:
        warnings.warn(f"{path}: {layout.frames} frames; reading the first", stacklevel=4)
    try:
        stored = pixel_array(dataset, index=0) if layout.frames > 1 else dataset.pixel_array
    except Exception as error:  # decoder plugins raise many types on damaged pixel data
        raise ImageReadError(f"{path}: cannot decode Pixel Data ({short_reason(error)})") from error
    expected = (layout.rows, layout.columns) + ((3,) if layout.samples_per_pixel == 3 else ())
    if stored.shape != expected:
        raise ImageReadError(f"{path}: Pixel Data decodes to shape {stored.shape}; Rows x Columns say {expected}")
    return stored, 0


def _decode_jpeg2000_reduced(
    dataset: Dataset, path: Path, layout: PixelLayout, *, max_side_px: int | None, max_pixels: int | None
) -> tuple[np.ndarray, int] | None:
    """The first frame at a lower JPEG 2000 resolution level; None to decode in full through pydicom.

    The codestream's own size is checked against the pixel limit too: it, not Rows x Columns,
    decides what the decoder allocates.
    """
    try:
        frame = get_frame(dataset.PixelData, 0, number_of_frames=layout.frames)
        codestream = j2k_parameters(frame)
    except Exception as error:  # damaged fragments or codestream header: let pydicom report it
        logger.debug("%s: JPEG 2000 header unreadable (%s); decoding through pydicom", path, error)
        return None
    columns, rows = int(codestream["columns"]), int(codestream["rows"])
    check_pixel_count(path, columns, rows, frames=layout.frames, max_pixels=max_pixels)
    levels = reduction_levels(columns, rows, max_side_px)
    precision = int(codestream["precision"])
    simple = codestream["samples_per_pixel"] == 1 and not codestream["is_signed"] and precision <= 16
    if not levels or not simple or (columns, rows) != (layout.columns, layout.rows):
        return None
    try:
        with PILImage.open(io.BytesIO(frame), formats=["JPEG2000"]) as opened:
            opened.reduce = levels  # type: ignore[method-assign,assignment]
            opened.load()
            stored = np.asarray(opened)
    except Exception as error:  # fewer resolution levels than asked, or a decoder error: full decode
        logger.debug("%s: JPEG 2000 reduce=%d failed (%s); decoding in full", path, levels, error)
        return None
    # Pillow scales samples up to the full 8 or 16 bits of its mode; shift back to stored values.
    container_bits = 16 if stored.dtype == np.uint16 else 8
    if precision < container_bits:
        stored = stored >> (container_bits - precision)
    return stored, levels
