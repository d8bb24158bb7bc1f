"""The published experts' own input pipelines, from display-ready pixels in [0, 1].

- torchxrayvision: intensities to [-1024, 1024] (``(2 p - 1) * 1024``, its ``normalize`` of an
  8-bit image), the centred square crop of its ``XRayCenterCrop``, then a resize to the input
  size, one channel. torchxrayvision resizes with scikit-image (Gaussian pre-filter, bilinear);
  this uses Pillow's antialiased bilinear filter, the resize torchxrayvision's models apply
  themselves to off-size inputs (``fix_resolution``), within a few grey levels of it.
- CheXNet (arnoweng): the shorter side to 256 (bilinear), torchvision's ten 224 crops (four
  corners and the centre, then the same of the mirrored image), grey copied into RGB and
  normalised with the ImageNet mean and standard deviation; the probabilities of the ten crops
  are averaged, as its evaluation does.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from PIL import Image as PILImage

from januscxr.models.published import Preprocessing
from januscxr.types import FloatArray

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
CENTRE_CROP = 4  # index of the centre crop among the ten (torchvision's five_crop order)


def resize_bilinear(pixels: FloatArray, rows: int, columns: int) -> FloatArray:
    """(H, W) float -> (rows, columns) with Pillow's antialiased bilinear filter."""
    if pixels.shape == (rows, columns):
        return pixels.astype(np.float32, copy=False)
    image = PILImage.fromarray(np.ascontiguousarray(pixels, dtype=np.float32), mode="F")
    return np.array(image.resize((columns, rows), PILImage.Resampling.BILINEAR), dtype=np.float32)  # writable


def centre_square(pixels: FloatArray) -> FloatArray:
    """The centred square of side min(H, W), with torchxrayvision's offsets."""
    rows, columns = pixels.shape
    side = min(rows, columns)
    top, left = rows // 2 - side // 2, columns // 2 - side // 2
    return pixels[top : top + side, left : left + side]


def xrv_input(pixels: FloatArray, size: int) -> FloatArray:
    """(H, W) in [0, 1] -> (1, size, size) in [-1024, 1024]."""
    scaled = (2.0 * centre_square(pixels).astype(np.float32) - 1.0) * 1024.0
    return resize_bilinear(scaled, size, size)[None]


def ten_crops(pixels: FloatArray, *, resize: int = 256, crop: int = 224) -> FloatArray:
    """(H, W) in [0, 1] -> (10, 3, crop, crop) ImageNet-normalised: CheXNet's test-time input."""
    rows, columns = pixels.shape
    # torchvision's Resize(256): the shorter side to 256, the longer scaled and truncated
    shape = (resize, int(resize * columns / rows)) if rows <= columns else (int(resize * rows / columns), resize)
    resized = resize_bilinear(pixels, *shape)
    h, w = resized.shape
    top, left = round((h - crop) / 2.0), round((w - crop) / 2.0)
    corners = [(0, 0), (0, w - crop), (h - crop, 0), (h - crop, w - crop), (top, left)]
    crops = [resized[y : y + crop, x : x + crop] for y, x in corners]
    crops += [resized[:, ::-1][y : y + crop, x : x + crop] for y, x in corners]
    stack = np.stack(crops)[:, None].repeat(3, axis=1)  # (10, 3, crop, crop)
    normalised: npt.NDArray[np.float32] = (stack - IMAGENET_MEAN[:, None, None]) / IMAGENET_STD[:, None, None]
    return normalised.astype(np.float32)


def model_input(pixels: FloatArray, preprocessing: Preprocessing, size: int) -> FloatArray:
    """(N, C, size, size): the crops one image is scored on (N = 1, or 10 for ten-crop)."""
    if preprocessing is Preprocessing.XRV:
        return xrv_input(pixels, size)[None]
    return ten_crops(pixels, crop=size)
