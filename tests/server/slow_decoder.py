"""A decoder that stalls on some images, for the worker's read time limit.

It runs in the decoder's child process, which imports this module: keep its imports light.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from januscxr.io import read_image
from januscxr.types import Image

SLOW_WIDTH_PX = 100  # read_slowly stalls on images this wide


def read_slowly(path: str | Path, **options: Any) -> Image:
    """``read_image``, stalling for a minute on images SLOW_WIDTH_PX wide."""
    image = read_image(path, **options)
    if image.shape[1] == SLOW_WIDTH_PX:
        time.sleep(60)
    return image
