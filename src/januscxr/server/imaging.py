"""PNGs for the browser: the 8-bit display image and transparent heatmap overlays."""

from __future__ import annotations

import functools
import io

import numpy as np
from PIL import Image as PILImage

from januscxr.types import FloatArray

MAX_DISPLAY_SIDE_PX = 2048
# The overlay: a perceptual colour map (matplotlib's plasma: purple, magenta, orange, yellow,
# brighter with heat, and neither black nor white at its ends, so it stands out on grey film)
# whose opacity rises from nothing at HEAT_FLOOR of the map's peak to HEATMAP_MAX_ALPHA at the
# peak: only the hot regions are tinted, and the film stays readable around them. The legend in
# static/app.css (.heatmap-legend) shows the same ramp; tests/server/test_imaging.py keeps the
# two in step.
HEATMAP_COLORMAP = "plasma"
HEAT_FLOOR = 0.25
HEATMAP_MAX_ALPHA = 0.6


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


def heatmap_rgba(heat: FloatArray) -> FloatArray:
    """Overlay colours (..., 4) in [0, 1] of heat values (...) in [0, 1]: colour by the map, alpha by the heat."""
    v = np.clip(np.nan_to_num(np.asarray(heat, dtype=np.float32)), 0.0, 1.0)
    rgb = _colormap_table()[np.rint(v * 255.0).astype(np.intp)]  # (..., 3)
    t = np.clip((v - HEAT_FLOOR) / (1.0 - HEAT_FLOOR), 0.0, 1.0)
    # sqrt of smoothstep: eases in from the floor (no hard edge), then rises fast enough that
    # half the peak heat is already plainly tinted.
    alpha = HEATMAP_MAX_ALPHA * np.sqrt(t * t * (3.0 - 2.0 * t))
    return np.concatenate([rgb, alpha[..., None]], axis=-1).astype(np.float32)


def heatmap_png(heatmap: FloatArray, size: tuple[int, int]) -> bytes:
    """A transparent RGBA overlay of a heatmap (h, w) in [0, 1], stretched to ``size`` (width, height)."""
    values = PILImage.fromarray(np.float32(np.clip(heatmap, 0.0, 1.0)), mode="F").resize(
        size, PILImage.Resampling.BILINEAR
    )
    rgba = heatmap_rgba(np.asarray(values, dtype=np.float32))  # (H, W, 4)
    return _png(PILImage.fromarray(np.uint8(rgba * 255.0 + 0.5), mode="RGBA"))


@functools.cache
def _colormap_table() -> FloatArray:
    """The colour map as 256 RGB rows in [0, 1] (matplotlib loads on the first heatmap, not at import)."""
    from matplotlib import colormaps

    table: FloatArray = colormaps[HEATMAP_COLORMAP](np.linspace(0.0, 1.0, 256))[:, :3].astype(np.float32)
    return table


def _png(image: PILImage.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False, compress_level=3)
    return buffer.getvalue()
