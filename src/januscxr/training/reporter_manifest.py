"""Image-report manifests for reporter training, read by :mod:`januscxr.eval.report_manifest`.

The columns, their aliases, the split names and the line numbering are that module's; here
``patient_id`` is required, as it keeps each patient in one split. Rows without a split are split
by patient (:func:`split_by_patient`); test rows are never trained or validated on. Each row
becomes the answer the model learns, cleaned by :func:`~januscxr.training.report_text.answer_from_report`.
A row whose image file is missing or whose report is empty after cleaning is reported by line and
skipped; :class:`TrainingManifest` keeps the count.
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from januscxr.errors import ManifestError
from januscxr.eval.report_manifest import COLUMNS, SkippedRow, read_manifest_rows
from januscxr.training.report_text import Placeholders, answer_from_report

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReportExample:
    """One image and the answer the model should write for it; ``line`` is where its manifest row starts."""

    line: int
    image: Path
    answer: str
    patient_id: str
    split: str = ""


@dataclass(frozen=True)
class TrainingManifest:
    """The usable examples of a manifest and the rows skipped, with why."""

    path: Path
    examples: list[ReportExample]
    skipped: list[SkippedRow] = field(default_factory=list)

    def split(self, name: str) -> list[ReportExample]:
        return [e for e in self.examples if e.split == name]

    def patients(self, name: str) -> int:
        return len({e.patient_id for e in self.split(name)})


def read_training_manifest(
    path: str | Path,
    *,
    check_images: bool = True,
    placeholders: Placeholders | str = Placeholders.DROP,
) -> TrainingManifest:
    """Read a CSV or JSONL manifest (``.jsonl``, ``.ndjson``, ``.json``: JSON Lines; anything else CSV)."""
    path = Path(path)
    examples: list[ReportExample] = []
    skipped: list[SkippedRow] = []
    for row in read_manifest_rows(path, require_patient=True):
        answer = answer_from_report(findings=row.findings, impression=row.impression, placeholders=placeholders)
        if not answer:
            skipped.append(
                SkippedRow(row.line, row.case_id, "empty report (no FINDINGS or IMPRESSION text after cleaning)")
            )
        elif check_images and not row.image.is_file():
            skipped.append(SkippedRow(row.line, row.case_id, f"image {row.image} not found"))
        else:  # patient_id is required above, so never empty here
            examples.append(ReportExample(row.line, row.image, answer, row.patient_id or "", row.split))
    for bad in skipped:
        logger.warning("%s: line %d skipped: %s", path, bad.line, bad.reason)
    if skipped:
        logger.warning("%s: %d of %d rows skipped", path, len(skipped), len(skipped) + len(examples))
    if not examples:
        raise ManifestError(f"{path}: no usable rows ({len(skipped)} skipped); expected image-report pairs")
    return TrainingManifest(path, examples, skipped)


def split_by_patient(examples: list[ReportExample], valid_fraction: float, seed: int) -> list[ReportExample]:
    """Examples without a split get ``train`` or ``valid``: a seeded ``valid_fraction`` of their patients."""
    unsplit = sorted({e.patient_id for e in examples if not e.split})
    if not unsplit:
        return examples
    rng = np.random.default_rng(seed)
    count = min(len(unsplit) - 1, max(1, round(len(unsplit) * valid_fraction))) if valid_fraction > 0 else 0
    chosen = set(rng.choice(unsplit, size=count, replace=False).tolist()) if count > 0 else set()
    return [e if e.split else replace(e, split="valid" if e.patient_id in chosen else "train") for e in examples]


def write_report_manifest(rows: Iterable[Mapping[str, str]], path: str | Path) -> int:
    """Write manifest rows (CSV, or JSONL for a ``.jsonl`` path); returns the number written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = list(rows)
    if path.suffix.lower() == ".jsonl":
        path.write_text("".join(json.dumps(dict(r), ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        return len(rows)
    columns = [c for c in COLUMNS if any(c in r for r in rows)]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)
