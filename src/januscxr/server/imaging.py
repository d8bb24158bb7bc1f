"""PNGs for the browser: the 8-bit display image and transparent heatmap overlays."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image as PILImage

from januscxr.types import FloatArray

MAX_DISPLAY_SIDE_PX = 2048
HEATMAP_MAX_ALPHA = 0.55


def display_size(rows: int, columns: int) -> tuple[int, int]:
    """(width, height) of the display PNG: the image, scaled down to fit 2048 px."""
    scale = min(1.0, MAX_DISPLAY_SIDE_PX / max(rows, columns))
    return max(1, round(columns * scale)), max(1, round(rows * scale))


def display_png(pixels: FloatArray) -> tuple[bytes, tuple[int, int]]:
    """An 8-bit grayscale PNG of pixels in [0, 1] (H, W); returns (png, (width, height))."""
    size = display_size(*pixels.shape)
    gray = PILImage.fromarray(np.uint8(np.clip(pixels, 0.0, 1.0) * 255.0 + 0.5))
    if gray.size != size:
        gray = gray.resize(size, PILImage.Resampling.LANCZOS)
    return _png(gray), size


def heatmap_png(heatmap: FloatArray, size: tuple[int, int]) -> bytes:
    """A transparent RGBA overlay of a heatmap (h, w) in [0, 1], stretched to ``size`` (width, height)."""
    values = PILImage.fromarray(np.float32(np.clip(heatmap, 0.0, 1.0)), mode="F").resize(
        size, PILImage.Resampling.BILINEAR
    )
    v = np.clip(np.asarray(values, dtype=np.float32), 0.0, 1.0)  # (H, W)
    red = np.clip(1.5 - np.abs(4 * v - 3), 0, 1)
    green = np.clip(1.5 - np.abs(4 * v - 2), 0, 1)
    blue = np.clip(1.5 - np.abs(4 * v - 1), 0, 1)
    alpha = np.where(v > 0.05, HEATMAP_MAX_ALPHA * v, 0.0)
    rgba = np.stack([red, green, blue, alpha], axis=-1)  # (H, W, 4)
    return _png(PILImage.fromarray(np.uint8(rgba * 255 + 0.5), mode="RGBA"))


def _png(image: PILImage.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False, compress_level=3)
    return buffer.getvalue()
