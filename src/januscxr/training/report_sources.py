"""Manifests from the public image-report collections, laid out as their publishers ship them.

- **MIMIC-CXR-JPG** (PhysioNet, v2.0.0/v2.1.0) with the **MIMIC-CXR** reports:
  ``files/p10/p10000032/s50414267/<dicom_id>.jpg``, ``mimic-cxr-2.0.0-metadata.csv(.gz)``
  (``dicom_id``, ``subject_id``, ``study_id``, ``ViewPosition``...), ``mimic-cxr-2.0.0-split.csv(.gz)``
  (``dicom_id``, ``split``: train/validate/test), and the reports of ``mimic-cxr-reports.zip``
  unpacked as ``files/p10/p10000032/s50414267.txt`` (in the same root or another).
- **CheXpert Plus** (Stanford AIMI): ``df_chexpert_plus_240401.csv`` with ``path_to_image``,
  ``frontal_lateral``, ``deid_patient_id``, ``section_findings``, ``section_impression``, ``report``
  and ``split``; images under the root as the CSV names them, or as PNG (``PNG/<path>.png``).

Both keep frontal views only, as januscxr reads only frontal radiographs. A study whose report
file is missing gets an empty report, which the manifest reader reports by row and skips.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterator
from pathlib import Path

from januscxr.errors import ManifestError

FRONTAL_VIEWS = ("PA", "AP")
MIMIC_METADATA = "mimic-cxr-2.0.0-metadata.csv"
MIMIC_SPLIT = "mimic-cxr-2.0.0-split.csv"
CHEXPERT_PLUS_CSV = "df_chexpert_plus_240401.csv"


def _read_table(path: Path) -> Iterator[dict[str, str]]:
    """Rows of a CSV or its ``.gz``; a ManifestError when neither exists."""
    for candidate in (path, path.with_name(path.name + ".gz")):
        if candidate.is_file():
            raw = candidate.read_bytes()
            text = gzip.decompress(raw).decode("utf-8") if candidate.suffix == ".gz" else raw.decode("utf-8")
            yield from csv.DictReader(io.StringIO(text, newline=""))
            return
    raise ManifestError(f"{path}: not found (nor {path.name}.gz); expected the collection's table there")


def mimic_cxr_rows(
    jpg_root: str | Path, reports_root: str | Path | None = None, *, views: tuple[str, ...] = FRONTAL_VIEWS
) -> list[dict[str, str]]:
    """Manifest rows for MIMIC-CXR-JPG: one per frontal image, the study's report, PhysioNet's split."""
    root = Path(jpg_root)
    reports = Path(reports_root) if reports_root is not None else root
    splits = {r["dicom_id"]: r["split"] for r in _read_table(root / MIMIC_SPLIT)}
    rows: list[dict[str, str]] = []
    for record in _read_table(root / MIMIC_METADATA):
        if record.get("ViewPosition", "") not in views:
            continue
        subject, study = record["subject_id"], record["study_id"]
        study_dir = Path("files") / f"p{subject[:2]}" / f"p{subject}"
        report_file = reports / study_dir / f"s{study}.txt"
        rows.append(
            {
                "image": str(root / study_dir / f"s{study}" / f"{record['dicom_id']}.jpg"),
                "patient_id": f"mimic:{subject}",
                "report": report_file.read_text(encoding="utf-8") if report_file.is_file() else "",
                "split": splits.get(record["dicom_id"], ""),
            }
        )
    return rows


def chexpert_plus_rows(root: str | Path, *, table: str | Path | None = None) -> list[dict[str, str]]:
    """Manifest rows for CheXpert Plus: frontal images, FINDINGS and IMPRESSION sections, its split."""
    base = Path(root)
    rows: list[dict[str, str]] = []
    for record in _read_table(Path(table) if table is not None else base / CHEXPERT_PLUS_CSV):
        if record.get("frontal_lateral", "").strip().lower() != "frontal":
            continue
        findings, impression = record.get("section_findings", ""), record.get("section_impression", "")
        rows.append(
            {
                "image": str(_chexpert_image(base, record["path_to_image"])),
                "patient_id": f"chexpert:{record['deid_patient_id']}",
                "report": "" if (findings.strip() or impression.strip()) else record.get("report", ""),
                "findings": findings,
                "impression": impression,
                "split": record.get("split", ""),
            }
        )
    return rows


def _chexpert_image(root: Path, relative: str) -> Path:
    """The image as the CSV names it, else its PNG (CheXpert Plus ships PNG under ``PNG/``)."""
    path = Path(relative)
    candidates = (
        root / path,
        root / path.with_suffix(".png"),
        root / "PNG" / path.with_suffix(".png"),
        root / "PNG" / path,
    )
    return next((c for c in candidates if c.is_file()), root / path)
