"""Image-report manifests for reporter training: CSV or JSONL, one row per image.

Columns (CSV header or JSON keys):

- ``image``: the image file (DICOM, PNG or JPEG), absolute or relative to the manifest's folder;
- ``report`` (free text with ``FINDINGS:`` / ``IMPRESSION:`` headings) or ``findings`` and
  ``impression`` (either may be empty, not both);
- ``patient_id``: groups images of one patient, so that no patient is in two splits;
- ``split`` (optional): ``train``, ``valid`` (``validate``, ``val``) or ``test``; rows without one
  are split by patient (:func:`split_by_patient`). Test rows are never trained or validated on.

A malformed manifest (a missing column, a row without a patient, an unknown split, a line that is
not JSON) raises a :class:`ManifestError` naming the row. A row whose image file is missing or
whose report is empty after cleaning is reported by row and skipped; :class:`ReportManifest`
keeps the count.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from januscxr.errors import ManifestError
from januscxr.training.report_text import Placeholders, answer_from_report

logger = logging.getLogger(__name__)

COLUMNS = ("image", "patient_id", "report", "findings", "impression", "split")
SPLITS = {"train": "train", "valid": "valid", "validate": "valid", "val": "valid", "test": "test", "": ""}


@dataclass(frozen=True)
class ReportExample:
    """One image and the answer the model should write for it; ``row`` is the manifest row (1 = first)."""

    row: int
    image: Path
    answer: str
    patient_id: str
    split: str = ""


@dataclass(frozen=True)
class SkippedRow:
    row: int
    reason: str


@dataclass(frozen=True)
class ReportManifest:
    """The usable examples of a manifest and the rows skipped, with why."""

    path: Path
    examples: list[ReportExample]
    skipped: list[SkippedRow] = field(default_factory=list)

    def split(self, name: str) -> list[ReportExample]:
        return [e for e in self.examples if e.split == name]

    def patients(self, name: str) -> int:
        return len({e.patient_id for e in self.split(name)})


def read_report_manifest(
    path: str | Path,
    *,
    check_images: bool = True,
    placeholders: Placeholders | str = Placeholders.DROP,
) -> ReportManifest:
    """Read a CSV or JSONL manifest (by suffix: ``.jsonl``/``.json`` is JSONL, anything else CSV)."""
    path = Path(path)
    examples: list[ReportExample] = []
    skipped: list[SkippedRow] = []
    for row, record in _records(path):
        example = _example(record, row, path, placeholders)
        if not example.answer:
            skipped.append(SkippedRow(row, "empty report (no FINDINGS or IMPRESSION text after cleaning)"))
        elif check_images and not example.image.is_file():
            skipped.append(SkippedRow(row, f"image {example.image} not found"))
        else:
            examples.append(example)
    for bad in skipped:
        logger.warning("%s: row %d skipped: %s", path, bad.row, bad.reason)
    if skipped:
        logger.warning("%s: %d of %d rows skipped", path, len(skipped), len(skipped) + len(examples))
    if not examples:
        raise ManifestError(f"{path}: no usable rows ({len(skipped)} skipped); expected image-report pairs")
    return ReportManifest(path, examples, skipped)


def _records(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ManifestError(f"{path}: cannot read manifest ({error})") from error
    if path.suffix.lower() in {".jsonl", ".json"}:
        yield from _json_records(path, text)
        return
    reader = csv.DictReader(io.StringIO(text, newline=""))  # report cells may span lines
    _check_columns(path, reader.fieldnames or [])
    for index, record in enumerate(reader, start=1):
        if None in record:  # csv puts the cells past the header under the key None
            raise ManifestError(
                f"{path}: row {index} has more cells than the {len(reader.fieldnames or [])} header columns; "
                "quote report text that holds commas"
            )
        yield index, {k: v or "" for k, v in record.items()}


def _json_records(path: Path, text: str) -> Iterator[tuple[int, dict[str, str]]]:
    rows = [line for line in text.splitlines() if line.strip()]
    for index, line in enumerate(rows, start=1):
        try:
            record = json.loads(line)
        except ValueError as error:
            raise ManifestError(
                f"{path}: row {index} is not valid JSON ({error}); expected one object per line"
            ) from error
        if not isinstance(record, dict):
            raise ManifestError(f"{path}: row {index} is a {type(record).__name__}; expected a JSON object")
        if index == 1:
            _check_columns(path, list(record))
        yield index, {str(k): "" if v is None else str(v) for k, v in record.items()}


def _check_columns(path: Path, columns: Sequence[str]) -> None:
    missing = [c for c in ("image", "patient_id") if c not in columns]
    if "report" not in columns and not {"findings", "impression"} & set(columns):
        missing.append("report (or findings/impression)")
    if missing:
        raise ManifestError(
            f"{path}: missing column(s) {', '.join(missing)}; got {', '.join(columns) or 'none'}; "
            "expected image, patient_id, report or findings/impression, optional split"
        )


def _example(record: Mapping[str, str], row: int, path: Path, placeholders: Placeholders | str) -> ReportExample:
    image = record.get("image", "").strip()
    patient = record.get("patient_id", "").strip()
    split = record.get("split", "").strip().lower()
    if not image:
        raise ManifestError(f"{path}: row {row} has an empty image; expected a file path")
    if not patient:
        raise ManifestError(f"{path}: row {row} has an empty patient_id; expected the patient's id")
    if split not in SPLITS:
        raise ManifestError(f"{path}: row {row} has split {split!r}; expected train, valid, test or empty")
    answer = answer_from_report(
        report=record.get("report", ""),
        findings=record.get("findings", ""),
        impression=record.get("impression", ""),
        placeholders=placeholders,
    )
    candidate = Path(image)
    resolved = candidate if candidate.is_absolute() else path.parent / candidate
    return ReportExample(row=row, image=resolved, answer=answer, patient_id=patient, split=SPLITS[split])


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
