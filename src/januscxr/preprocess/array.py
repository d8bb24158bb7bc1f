"""Resizing and intensity standardisation of display-ready pixels in [0, 1]."""

from __future__ import annotations

import numpy as np
from PIL import Image as PILImage

from januscxr.types import FloatArray


def resize_square(pixels: FloatArray, size: int) -> FloatArray:
    """Resize (H, W) to (size, size), antialiased, without keeping the aspect ratio.

    Chest radiographs are close to square and the training images were squashed the
    same way, so stretching matches what the classifier saw.
    """
    if pixels.shape == (size, size):
        return pixels.astype(np.float32, copy=False)
    image = PILImage.fromarray(np.ascontiguousarray(pixels, dtype=np.float32), mode="F")
    resized = image.resize((size, size), PILImage.Resampling.BILINEAR, reducing_gap=2.0)
    return np.asarray(resized, dtype=np.float32)


def standardize(pixels: FloatArray) -> FloatArray:
    """Zero mean, unit variance per image: removes exposure and detector differences."""
    mean = float(pixels.mean())
    std = float(pixels.std())
    return ((pixels - np.float32(mean)) / np.float32(max(std, 1e-3))).astype(np.float32)


def to_model_input(pixels: FloatArray, size: int) -> FloatArray:
    """(H, W) in [0, 1] -> (size, size) standardised: the classifier's input."""
    return standardize(resize_square(pixels, size))
