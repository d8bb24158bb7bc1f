"""PNG overlays of heatmaps on the radiograph they explain."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image as PILImage

from januscxr.types import FloatArray

_MAX_SIDE_PX = 1024


def heatmap_overlay(pixels: FloatArray, heatmap: FloatArray, alpha: float = 0.45) -> PILImage.Image:
    """An RGB image: the radiograph in gray, the heatmap blended in a blue-to-red ramp."""
    rows, columns = pixels.shape
    scale = min(1.0, _MAX_SIDE_PX / max(rows, columns))
    size = (max(1, round(columns * scale)), max(1, round(rows * scale)))
    gray = (
        np.asarray(
            PILImage.fromarray(np.uint8(np.clip(pixels, 0, 1) * 255)).resize(size, PILImage.Resampling.BILINEAR),
            np.float32,
        )
        / 255.0
    )
    heat = np.asarray(
        PILImage.fromarray(np.asarray(heatmap, np.float32), mode="F").resize(size, PILImage.Resampling.BICUBIC),
        np.float32,
    )
    heat = np.clip(heat, 0.0, 1.0)
    ramp = np.stack(
        [np.clip(1.5 * heat, 0, 1), np.clip(1.5 - np.abs(2 * heat - 1) * 1.5, 0, 1), np.clip(1.5 * (1 - heat), 0, 1)],
        axis=-1,
    )
    weight = (alpha * heat)[..., None]  # cold regions stay almost pure radiograph
    blended = (1 - weight) * gray[..., None] + weight * ramp
    return PILImage.fromarray(np.uint8(np.clip(blended, 0, 1) * 255), mode="RGB")


def write_heatmap_overlay(pixels: FloatArray, heatmap: FloatArray, path: str | Path) -> Path:
    """Write :func:`heatmap_overlay` as a PNG; create parent folders."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    heatmap_overlay(pixels, heatmap).save(path, format="PNG")
    return path
