"""The test manifest of ``januscxr eval generate``: one image and its reference report per row.

CSV or JSON Lines (``.jsonl``). Column names are matched without regard to case:

``image`` (or ``image_path``, ``path``)
    The image file, absolute or relative to the manifest's folder. Required.
``report`` (or ``text``), or ``findings`` and/or ``impression``
    The reference report: free text (its FINDINGS and IMPRESSION headings, when present, split it
    as :func:`januscxr.report.parse.parse_sections` splits a model's answer), or the two sections.
``patient_id`` (or ``subject_id``)
    Optional; when every row has one, comparisons resample patients rather than reports.
``id`` (or ``study_id``, ``dicom_id``)
    Optional; the row's key in the drafts file. Without it, the image path as written.
``split``
    Optional; ``--split test`` keeps only the rows whose split is ``test``.

A structural fault (a missing column, a row without an image path, a repeated id, a line that is
not JSON) raises :class:`~januscxr.errors.ManifestError` naming the file and line. A row whose
reference report is empty is skipped and counted, not fatal.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from januscxr.errors import EvaluationInputError, ManifestError
from januscxr.eval.tables import _read_csv, _read_jsonl
from januscxr.report.parse import parse_sections

IMAGE_COLUMNS = ("image", "image_path", "path")
REPORT_COLUMNS = ("report", "text")
FINDINGS_COLUMNS = ("findings",)
IMPRESSION_COLUMNS = ("impression",)
PATIENT_COLUMNS = ("patient_id", "subject_id")
ID_COLUMNS = ("id", "study_id", "dicom_id")
SPLIT_COLUMNS = ("split",)


@dataclass(frozen=True)
class ManifestRow:
    """One test image and the sections of its reference report."""

    line: int
    case_id: str
    image: Path
    findings: str
    impression: str
    patient_id: str | None = None


@dataclass(frozen=True)
class SkippedRow:
    """A row left out, with the line it came from and why."""

    line: int
    case_id: str
    reason: str


@dataclass(frozen=True)
class ReportManifest:
    """The usable rows of a manifest and the rows skipped for an empty reference."""

    source: Path
    rows: tuple[ManifestRow, ...]
    skipped: tuple[SkippedRow, ...]


def read_report_manifest(path: str | Path, *, split: str | None = None) -> ReportManifest:
    """Read an image/report manifest; structural faults raise, empty references are skipped.

    Parameters
    ----------
    path : path
        A CSV or JSONL manifest (columns in the module docstring).
    split : str, optional
        Keep only rows whose ``split`` column equals this; the manifest must have that column.

    Returns
    -------
    ReportManifest
    """
    path = Path(path)
    try:
        if path.suffix.lower() in {".jsonl", ".ndjson"}:
            rows = _read_jsonl(path)
            header = sorted({key for _, row in rows for key in row})
        else:
            header, rows = _read_csv(path)
    except EvaluationInputError as error:
        raise ManifestError(str(error)) from None
    columns = _columns(path, header, split)
    kept: list[ManifestRow] = []
    skipped: list[SkippedRow] = []
    seen: dict[str, int] = {}
    for line, raw in rows:
        cells = {name: (raw.get(column) or "").strip() if column else "" for name, column in columns.items()}
        if split is not None and cells["split"] != split:
            continue
        if not cells["image"]:
            raise ManifestError(f"{path}: line {line}, column {columns['image']!r} is empty; expected an image path")
        case_id = cells["id"] or cells["image"]
        if case_id in seen:
            raise ManifestError(
                f"{path}: line {line} repeats id {case_id!r} of line {seen[case_id]}; expected one row per image"
            )
        seen[case_id] = line
        findings, impression = cells["findings"], cells["impression"]
        if cells["report"] and not (findings or impression):
            findings, impression = parse_sections(cells["report"])
        if not (findings or impression):
            skipped.append(SkippedRow(line, case_id, "empty reference report"))
            continue
        image = Path(cells["image"])
        kept.append(
            ManifestRow(
                line=line,
                case_id=case_id,
                image=image if image.is_absolute() else path.parent / image,
                findings=findings,
                impression=impression,
                patient_id=cells["patient"] or None,
            )
        )
    if not kept and not skipped:
        where = f" with split {split!r}" if split is not None else ""
        raise ManifestError(f"{path}: no rows{where}; expected one row per test image")
    return ReportManifest(path, tuple(kept), tuple(skipped))


def _columns(path: Path, header: list[str], split: str | None) -> dict[str, str | None]:
    """The header's column for each role (None where absent); raise when a required one is missing."""
    lower = {name.strip().lower(): name for name in header}

    def find(names: tuple[str, ...]) -> str | None:
        return next((lower[n] for n in names if n in lower), None)

    columns = {
        "image": find(IMAGE_COLUMNS),
        "report": find(REPORT_COLUMNS),
        "findings": find(FINDINGS_COLUMNS),
        "impression": find(IMPRESSION_COLUMNS),
        "patient": find(PATIENT_COLUMNS),
        "id": find(ID_COLUMNS),
        "split": find(SPLIT_COLUMNS),
    }
    if columns["image"] is None:
        raise ManifestError(f"{path}: no image column in {header}; expected one of {', '.join(IMAGE_COLUMNS)}")
    if not (columns["report"] or columns["findings"] or columns["impression"]):
        raise ManifestError(
            f"{path}: no reference report column in {header}; expected 'report' (or 'text'), "
            "or 'findings' and 'impression'"
        )
    if split is not None and columns["split"] is None:
        raise ManifestError(f"{path}: --split {split!r} given but the manifest has no 'split' column")
    return columns
