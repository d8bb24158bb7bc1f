"""Tiny image-report sets for the reporter tests: PNGs of random pixels and their manifests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image as PILImage

REPORTS = [
    "FINDINGS: The lungs are clear. IMPRESSION: No acute cardiopulmonary process.",
    "FINDINGS: Right pleural effusion. IMPRESSION: Right pleural effusion.",
    "FINDINGS: Left lower lobe consolidation. Cardiomegaly. IMPRESSION: Cardiomegaly.",
    "FINDINGS: There is no pleural effusion or pneumothorax. Edema. IMPRESSION: Edema.",
]


def write_png(path: Path, seed: int, size: int = 64) -> Path:
    pixels = (np.random.default_rng(seed).random((size, size)) * 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    PILImage.fromarray(pixels).save(path)
    return path


def write_pairs(folder: Path) -> Path:
    """Four training pairs (one image per report) and a validation row repeating the first pair."""
    lines = ["image,patient_id,report,split"]
    for index, report in enumerate(REPORTS):
        write_png(folder / f"img{index}.png", index)
        lines.append(f'img{index}.png,p{index},"{report}",train')
    lines.append(f'img0.png,p9,"{REPORTS[0]}",valid')
    manifest = folder / "manifest.csv"
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return manifest
