"""A decoder that fails unexpectedly (not a JanusCxrError), for the job queue's attempts.

It runs in the decoder's child process, which imports this module: keep its imports light.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from januscxr.types import Image


def read_brokenly(path: str | Path, **options: Any) -> Image:
    """Always raise, as a bug in a decoder would."""
    raise RuntimeError(f"decoder bug on {Path(path).name}")
