"""PNG and JPEG chest radiographs through Pillow."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image as PILImage
from PIL import ImageOps, UnidentifiedImageError

from januscxr.errors import ImageReadError, ImageTooLargeError
from januscxr.io.attributes import short_reason
from januscxr.io.limits import DEFAULT_MAX_SIDE_PX, check_pixel_count, reduction_levels
from januscxr.io.pixels import auto_window, scale_to_unit
from januscxr.types import FloatArray, Image

# Pillow's own guard is process-wide and warns at one size and raises at twice that; januscxr
# opens every image through this module and refuses anything over its own, per-call limit
# (io.limits) right after the header is read and before decoding, so Pillow's is switched off.
# Its DecompressionBombError is still turned into ImageTooLargeError should anyone re-enable it.
PILImage.MAX_IMAGE_PIXELS = None

_PILLOW_FORMATS = {"png": "PNG", "jpeg": "JPEG"}
# What Pillow raises on damaged files, besides OSError: bad chunk or marker fields
# (SyntaxError, ValueError, struct.error, zlib.error), a bad EXIF block (KeyError, TypeError,
# IndexError) and mode or size combinations it cannot handle.
_DECODER_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    EOFError,
    struct.error,
    zlib.error,
)


def read_raster(
    path: str | Path, *, max_pixels: int | None = None, max_side_px: int | None = DEFAULT_MAX_SIDE_PX
) -> Image:
    """Read a PNG or JPEG radiograph: grayscale, RGB, RGBA, palette or 16-bit.

    Colour images are converted to luminance; 8-bit images map 0..255 onto 0..1 and
    16-bit images get an automatic percentile window, since few use the full range.

    Parameters
    ----------
    path
        The file to read.
    max_pixels
        Refuse images with more pixels, before decoding (default: :func:`io.limits.current_max_pixels`).
    max_side_px
        A JPEG larger than twice this is decoded at 1/2, 1/4 or 1/8 scale, never below this long
        side (libjpeg's DCT scaling: faster, and smaller in memory); None decodes in full.

    Raises
    ------
    ImageReadError
        The file is not a PNG or JPEG Pillow can decode, or it is truncated.
    ImageTooLargeError
        The image has more than ``max_pixels`` pixels.
    """
    path = Path(path)
    with open_raster(path, max_pixels=max_pixels) as opened:
        try:
            if opened.format == "JPEG":
                _draft(opened, max_side_px)
            opened.load()
            decoded = ImageOps.exif_transpose(opened)
            pixels = _to_unit_gray(decoded)
        except _DECODER_ERRORS as error:
            raise ImageReadError(f"{path}: truncated or corrupt image file ({short_reason(error)})") from error
    return Image(pixels=pixels, source=str(path))


@contextmanager
def open_raster(path: Path, *, kind: str | None = None, max_pixels: int | None = None) -> Iterator[PILImage.Image]:
    """Open a PNG or JPEG (its header only) and check its size against the pixel limit.

    ``kind`` ("png" or "jpeg") restricts Pillow to that format; by default both are tried.
    """
    formats = [_PILLOW_FORMATS[kind]] if kind else list(_PILLOW_FORMATS.values())
    try:
        opened = PILImage.open(path, formats=formats)
    except UnidentifiedImageError as error:
        raise ImageReadError(f"{path}: not an image; expected DICOM, PNG or JPEG") from error
    except PILImage.DecompressionBombError as error:
        raise ImageTooLargeError(f"{path}: image over Pillow's pixel limit ({short_reason(error)})") from error
    except _DECODER_ERRORS as error:
        raise ImageReadError(
            f"{path}: truncated or corrupt {(kind or 'image').upper()} header ({short_reason(error)})"
        ) from error
    with opened:
        columns, rows = opened.size
        check_pixel_count(path, columns, rows, max_pixels=max_pixels)  # the first frame is all we decode
        yield opened


def _draft(image: PILImage.Image, max_side_px: int | None) -> None:
    """Ask libjpeg for a 1/2, 1/4 or 1/8 scale decode no smaller than ``max_side_px`` a side."""
    columns, rows = image.size
    levels = min(reduction_levels(columns, rows, max_side_px), 3)
    if levels and image.mode in {"L", "RGB"}:
        scale = 1 << levels
        image.draft(image.mode, (max(columns // scale, 1), max(rows // scale, 1)))  # Pillow rounds down


def _to_unit_gray(image: PILImage.Image) -> FloatArray:
    if image.mode in {"I;16", "I;16B", "I;16L", "I;16N", "I", "F"}:
        values = np.asarray(image, dtype=np.float32)
        return auto_window(values)
    if image.mode in {"RGBA", "LA", "PA"} or (image.mode == "P" and "transparency" in image.info):
        image = image.convert("RGBA").convert("RGB")
    gray = np.asarray(image.convert("L"), dtype=np.float32)
    return scale_to_unit(gray, 0.0, 255.0)
