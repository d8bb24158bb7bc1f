"""PNG and JPEG chest radiographs through Pillow."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image as PILImage
from PIL import ImageOps, UnidentifiedImageError

from januscxr.errors import ImageReadError
from januscxr.io.pixels import auto_window, scale_to_unit
from januscxr.types import FloatArray, Image

PILImage.MAX_IMAGE_PIXELS = 20_000 * 20_000


def read_raster(path: str | Path) -> Image:
    """Read a PNG or JPEG radiograph: grayscale, RGB, RGBA, palette or 16-bit.

    Colour images are converted to luminance; 8-bit images map 0..255 onto 0..1 and
    16-bit images get an automatic percentile window, since few use the full range.

    Raises
    ------
    ImageReadError
        The file is not a PNG or JPEG Pillow can decode, or it is truncated.
    """
    path = Path(path)
    try:
        with PILImage.open(path) as opened:
            opened.load()
            decoded = ImageOps.exif_transpose(opened)
            pixels = _to_unit_gray(decoded)
    except UnidentifiedImageError as error:
        raise ImageReadError(f"{path}: not an image; expected DICOM, PNG or JPEG") from error
    except (OSError, SyntaxError, ValueError) as error:
        raise ImageReadError(f"{path}: truncated or corrupt image file ({error})") from error
    return Image(pixels=pixels, source=str(path))


def _to_unit_gray(image: PILImage.Image) -> FloatArray:
    if image.mode in {"I;16", "I;16B", "I;16L", "I;16N", "I", "F"}:
        values = np.asarray(image, dtype=np.float32)
        return auto_window(values)
    if image.mode in {"RGBA", "LA", "PA"} or (image.mode == "P" and "transparency" in image.info):
        image = image.convert("RGBA").convert("RGB")
    gray = np.asarray(image.convert("L"), dtype=np.float32)
    return scale_to_unit(gray, 0.0, 255.0)
