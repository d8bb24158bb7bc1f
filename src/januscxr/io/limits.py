"""How large an image januscxr decodes, and how far it shrinks one while decoding.

A compressed file states its size in a few header bytes and claims the memory only when it is
decoded: a 351 KB PNG of 19000 x 19000 px decodes into 361 MB of 8-bit pixels and about 3.8 GB
once converted and windowed. Every reader checks the declared size against a pixel limit
*before* decoding and refuses larger images with an :class:`~januscxr.errors.ImageTooLargeError`.

The limit is :data:`DEFAULT_MAX_PIXELS` unless a caller passes ``max_pixels`` or sets another
for a block of code with :func:`pixel_limit` (the CLI's ``--max-pixels`` does the latter, so
the pipeline needs no new argument). The largest radiographs in use, 43 x 43 cm flat-panel
detectors at 0.1 mm (4300 x 4300 px, 18.5 MP) and long-length stitched spine/leg images
(about 3000 x 9000 px, 27 MP), fit well inside 60 megapixels.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from januscxr.errors import ImageTooLargeError

DEFAULT_MAX_PIXELS = 60_000_000
"""Pixels (rows x columns x frames) above which an image is refused before decoding."""

DEFAULT_MAX_SIDE_PX = 2048
"""Long side that a JPEG or JPEG 2000 is decoded down to, when the format can do it for free.

A decoder may skip detail only in whole powers of two (JPEG's DCT scaling, JPEG 2000's
resolution levels), and never below this size, so images up to twice this size decode in full.
2048 px is the reading room's largest display image (``server.imaging.MAX_DISPLAY_SIDE_PX``):
the display and its heatmap overlays are exactly as sharp as from a full decode, while the
classifier's input (128 to 512 px) is far smaller still. A 4300 px flat-panel image decodes
at 2150 px, a quarter of the pixels and of the decoding time.
"""

_max_pixels: ContextVar[int] = ContextVar("januscxr_max_pixels", default=DEFAULT_MAX_PIXELS)


@contextmanager
def pixel_limit(max_pixels: int) -> Iterator[None]:
    """Use ``max_pixels`` as the default pixel limit of every read inside the ``with`` block.

    Parameters
    ----------
    max_pixels
        Largest rows x columns x frames to decode; at least 1.
    """
    if max_pixels < 1:
        raise ValueError(f"max_pixels must be at least 1, got {max_pixels}")
    token = _max_pixels.set(max_pixels)
    try:
        yield
    finally:
        _max_pixels.reset(token)


def current_max_pixels(max_pixels: int | None = None) -> int:
    """``max_pixels`` when given, else the limit in force (:func:`pixel_limit` or the default)."""
    return _max_pixels.get() if max_pixels is None else max_pixels


def check_pixel_count(path: Path, columns: int, rows: int, *, frames: int = 1, max_pixels: int | None = None) -> None:
    """Refuse an image whose declared size is over the pixel limit, before anything is decoded."""
    limit = current_max_pixels(max_pixels)
    count = columns * rows * max(frames, 1)
    if count > limit:
        frames_text = f" x {frames} frames" if frames > 1 else ""
        raise ImageTooLargeError(
            f"{path}: image is {columns}x{rows} px{frames_text} ({count / 1e6:.1f} megapixels); "
            f"the limit is {limit / 1e6:g} megapixels ({limit} px)"
        )


def reduction_levels(columns: int, rows: int, max_side_px: int | None) -> int:
    """How many halvings keep the long side at or above ``max_side_px`` (0: decode in full)."""
    if max_side_px is None or max_side_px < 1:
        return 0
    levels, side = 0, max(columns, rows)
    while side // 2 >= max_side_px and levels < 5:
        side //= 2
        levels += 1
    return levels
