"""Loading a manifest's images once, at the training resolution, through januscxr.io."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import numpy.typing as npt
from tqdm import tqdm

from januscxr.errors import JanusCxrError
from januscxr.io import read_image
from januscxr.preprocess import resize_square

logger = logging.getLogger(__name__)


def load_images(
    paths: list[Path], size: int, cache: Path | None = None
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.bool_]]:
    """(N, size, size) uint8 pixels and a mask of the rows that could be read.

    Unreadable files are logged with their error and masked out, never silently dropped.
    ``cache`` (an .npz path) keeps the decoded array for sweeps and resumed runs.
    """
    if cache is not None and cache.exists():
        stored = np.load(cache)
        if stored["pixels"].shape[0] == len(paths):
            return stored["pixels"], stored["readable"]
    pixels = np.zeros((len(paths), size, size), dtype=np.uint8)
    readable = np.ones(len(paths), dtype=bool)
    for i, path in enumerate(tqdm(paths, desc=f"decode {size}px", unit="img")):
        try:
            image = read_image(path)
        except JanusCxrError as error:
            logger.warning("skipping %s", error)
            readable[i] = False
            continue
        pixels[i] = np.round(resize_square(image.pixels, size) * 255.0).astype(np.uint8)
    if not readable.all():
        logger.warning("%d of %d images could not be read and are left out", (~readable).sum(), len(paths))
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, pixels=pixels, readable=readable)
    return pixels, readable
