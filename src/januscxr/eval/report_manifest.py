"""Image-report manifests: one image and its report per row, for ``eval generate`` and ``train reporter``.

CSV or JSON Lines (``.jsonl``, ``.ndjson``, ``.json``). Column names are matched without regard to case:

``image`` (or ``image_path``, ``path``)
    The image file (DICOM, PNG or JPEG), absolute or relative to the manifest's folder. Required.
``report`` (or ``text``), or ``findings`` and/or ``impression``
    The report: free text, whose FINDINGS and IMPRESSION sections are taken by their headings
    (:func:`report_sections`), or the two sections. A section column that has text wins over ``report``.
``patient_id`` (or ``subject_id``)
    Groups the images of one patient: comparisons resample patients, training keeps a patient in
    one split. Optional for ``eval generate``, required for ``train reporter``.
``id`` (or ``study_id``, ``dicom_id``)
    Optional; the row's key in the drafts file of ``eval generate``. Without it, the image path as written.
``split``
    Optional: ``train``, ``valid`` (``validate``, ``val``), ``test`` or empty.

Rows are numbered by the file line they start on, the header (CSV) being line 1. A structural
fault (a missing column, a row without an image path or a required patient, an unknown split, a
row with more cells than the header, a line that is not JSON) raises
:class:`~januscxr.errors.ManifestError` naming the file and line. What a caller skips (an empty
report, a missing image) it decides and counts itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from januscxr.errors import EvaluationInputError, ManifestError
from januscxr.eval.tables import read_csv_rows, read_jsonl_rows

COLUMNS: dict[str, tuple[str, ...]] = {  # role -> accepted names, the first one canonical
    "image": ("image", "image_path", "path"),
    "patient_id": ("patient_id", "subject_id"),
    "report": ("report", "text"),
    "findings": ("findings",),
    "impression": ("impression",),
    "split": ("split",),
    "id": ("id", "study_id", "dicom_id"),
}
SPLITS = {"train": "train", "valid": "valid", "validate": "valid", "val": "valid", "test": "test", "": ""}
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")

# A heading: an upper-case label at the start of a line (MIMIC-CXR's EXAMINATION:, INDICATION:,
# FINDINGS: ...), or FINDINGS / IMPRESSION in any case after a space (one-line reports).
_HEADING = re.compile(
    r"(?m)^[ \t]*(?P<label>[A-Z][A-Z /&()-]{2,40}?)[ \t]*:|(?<!\S)(?P<section>(?i:findings?|impressions?))[ \t]*:"
)
_FINDINGS_HEADINGS = {"FINDINGS", "FINDING", "FINDINGS AND IMPRESSION"}
_IMPRESSION_HEADINGS = {"IMPRESSION", "IMPRESSIONS", "CONCLUSION", "CONCLUSIONS"}


@dataclass(frozen=True)
class ManifestRow:
    """One image and the sections of its report (whitespace collapsed; either may be empty)."""

    line: int
    case_id: str
    image: Path
    findings: str
    impression: str
    patient_id: str | None = None
    split: str = ""


@dataclass(frozen=True)
class SkippedRow:
    """A row left out, with the line it came from and why."""

    line: int
    case_id: str
    reason: str


@dataclass(frozen=True)
class ReportManifest:
    """The usable rows of a test manifest and the rows skipped for an empty reference."""

    source: Path
    rows: tuple[ManifestRow, ...]
    skipped: tuple[SkippedRow, ...]


def report_sections(text: str) -> tuple[str, str]:
    """(findings, impression) of a free-text report; both empty when its headings include neither.

    Text before the first heading (a title, EXAMINATION, INDICATION...) is left out; a report
    without any heading is taken as findings only (IU-Xray and many hospital exports).
    """
    matches = list(_HEADING.finditer(text))
    if not matches:
        return _flat(text), ""
    sections: dict[str, list[str]] = {"findings": [], "impression": []}
    for index, match in enumerate(matches):
        end = matches[index + 1].start() if index + 1 < len(matches) else len(text)
        heading = " ".join((match.group("label") or match.group("section")).upper().split())
        if heading in _FINDINGS_HEADINGS:
            sections["findings"].append(text[match.end() : end])
        elif heading in _IMPRESSION_HEADINGS:
            sections["impression"].append(text[match.end() : end])
    return _flat(" ".join(sections["findings"])), _flat(" ".join(sections["impression"]))


def read_manifest_rows(path: str | Path, *, require_patient: bool = False) -> list[ManifestRow]:
    """Every row of a CSV or JSONL image-report manifest; structural faults raise, nothing is skipped."""
    path = Path(path)
    try:
        if path.suffix.lower() in JSONL_SUFFIXES:
            records = read_jsonl_rows(path)
            header = list(dict.fromkeys(key for _, record in records for key in record))
        else:
            header, records = read_csv_rows(path)
    except EvaluationInputError as error:
        raise ManifestError(str(error)) from None
    columns = _columns(path, header, require_patient)
    rows = []
    for line, record in records:
        cells = {role: (record.get(name) or "").strip() if name else "" for role, name in columns.items()}
        for role in ("image", "patient_id") if require_patient else ("image",):
            if not cells[role]:
                raise ManifestError(
                    f"{path}: line {line}, column {columns[role]!r} is empty; expected the {role.replace('_', ' ')}"
                )
        if cells["split"].lower() not in SPLITS:
            raise ManifestError(f"{path}: line {line}, split {cells['split']!r}; expected train, valid, test or empty")
        findings, impression = _flat(cells["findings"]), _flat(cells["impression"])
        if not (findings or impression):
            findings, impression = report_sections(cells["report"])
        image = Path(cells["image"])
        rows.append(
            ManifestRow(
                line=line,
                case_id=cells["id"] or cells["image"],
                image=image if image.is_absolute() else path.parent / image,
                findings=findings,
                impression=impression,
                patient_id=cells["patient_id"] or None,
                split=SPLITS[cells["split"].lower()],
            )
        )
    return rows


def read_report_manifest(path: str | Path, *, split: str | None = None) -> ReportManifest:
    """A test manifest for ``eval generate``: references as given, empty ones skipped and counted.

    Parameters
    ----------
    path : path
        A CSV or JSONL manifest (columns in the module docstring).
    split : str, optional
        Keep only rows whose ``split`` column names this split; the manifest must have that column.

    Returns
    -------
    ReportManifest
    """
    path = Path(path)
    rows = read_manifest_rows(path)
    if split is not None:
        wanted = SPLITS.get(split.strip().lower())
        if not wanted:
            raise ManifestError(f"{path}: --split {split!r}; expected train, valid or test")
        if rows and all(not row.split for row in rows):
            raise ManifestError(f"{path}: --split {split!r} given but the manifest has no split values")
        rows = [row for row in rows if row.split == wanted]
    kept: list[ManifestRow] = []
    skipped: list[SkippedRow] = []
    seen: dict[str, int] = {}
    for row in rows:
        if row.case_id in seen:
            raise ManifestError(
                f"{path}: line {row.line} repeats id {row.case_id!r} of line {seen[row.case_id]}; "
                "expected one row per image"
            )
        seen[row.case_id] = row.line
        if row.findings or row.impression:
            kept.append(row)
        else:
            skipped.append(SkippedRow(row.line, row.case_id, "empty reference report"))
    if not kept and not skipped:
        where = f" with split {split!r}" if split is not None else ""
        raise ManifestError(f"{path}: no rows{where}; expected one row per test image")
    return ReportManifest(path, tuple(kept), tuple(skipped))


def _columns(path: Path, header: list[str], require_patient: bool) -> dict[str, str | None]:
    """The header's column for each role (None where absent); raise when a required one is missing."""
    lower = {name.strip().lower(): name for name in header}
    columns = {role: next((lower[n] for n in names if n in lower), None) for role, names in COLUMNS.items()}
    required = ("image", "patient_id") if require_patient else ("image",)
    missing = [_alternatives(role) for role in required if columns[role] is None]
    if not (columns["report"] or columns["findings"] or columns["impression"]):
        missing.append(f"{_alternatives('report')} or findings/impression")
    if missing:
        raise ManifestError(
            f"{path}: missing column(s) {'; '.join(missing)}; got {', '.join(header) or 'none'}; "
            "expected image, report or findings/impression, patient_id, optional split and id"
        )
    return columns


def _alternatives(role: str) -> str:
    first, *others = COLUMNS[role]
    return f"{first} ({', '.join(others)})" if others else first


def _flat(text: str) -> str:
    return " ".join(text.split())
