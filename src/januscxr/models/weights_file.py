"""What a weights file says about itself: its sha256, and the metadata of a safetensors file."""

from __future__ import annotations

import hashlib
from pathlib import Path

from safetensors import safe_open


def file_sha256(path: Path) -> str:
    """Hex sha256 of the file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def weights_metadata(path: str | Path) -> dict[str, str]:
    """The safetensors header's metadata (string to string), without reading any tensor."""
    with safe_open(str(path), framework="pt") as handle:
        return dict(handle.metadata() or {})
