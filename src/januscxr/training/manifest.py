"""Training manifests: one CSV row per image with its path, patient and finding labels.

Columns: ``path`` (absolute, or relative to the manifest's folder), ``patient_id``, and one
column per finding named as :class:`Finding` values ("Pleural Effusion"), holding 1, 0, or
empty where the source does not label that finding (masked out of the loss).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from januscxr.errors import ManifestError
from januscxr.labels import NIH_TO_FINDING, Finding

REQUIRED_COLUMNS = ("path", "patient_id")


@dataclass(frozen=True)
class Manifest:
    """Images, their patients and a (N, K) label matrix with NaN where unlabelled."""

    paths: list[Path]
    patient_ids: list[str]
    findings: tuple[Finding, ...]
    labels: npt.NDArray[np.float32]  # (N, K) in {0, 1, nan}

    def positives(self) -> dict[Finding, int]:
        return {f: int(np.nansum(self.labels[:, k])) for k, f in enumerate(self.findings)}

    def select(self, findings: tuple[Finding, ...]) -> Manifest:
        columns = [self.findings.index(f) for f in findings]
        return Manifest(self.paths, self.patient_ids, findings, self.labels[:, columns])


def read_manifest(path: str | Path) -> Manifest:
    """Read and validate a manifest; errors name the row and column."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            columns = reader.fieldnames or []
            rows = list(reader)
    except (OSError, UnicodeDecodeError) as error:
        raise ManifestError(f"{path}: cannot read manifest ({error})") from error
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise ManifestError(
            f"{path}: missing column(s) {', '.join(missing)}; expected path, patient_id and finding columns"
        )
    findings = tuple(Finding.coerce(c) for c in columns if c not in REQUIRED_COLUMNS)
    if not findings:
        raise ManifestError(f"{path}: no finding columns; expected columns named like 'Pneumonia'")
    labels = np.full((len(rows), len(findings)), np.nan, dtype=np.float32)
    finding_columns = [c for c in columns if c not in REQUIRED_COLUMNS]
    for i, row in enumerate(rows):
        for k, column in enumerate(finding_columns):
            labels[i, k] = _parse_label(row.get(column), path, i + 2, column)
    paths = [_resolve(row["path"], path.parent) for row in rows]
    return Manifest(paths, [row["patient_id"] for row in rows], findings, labels)


def _parse_label(value: str | None, path: Path, line: int, column: str) -> float:
    text = (value or "").strip()
    if text == "":
        return float("nan")
    if text in {"0", "1", "0.0", "1.0"}:
        return float(text)
    raise ManifestError(f"{path}: line {line}, column {column!r} is {text!r}; expected 1, 0 or empty")


def _resolve(value: str, base: Path) -> Path:
    candidate = Path(value)
    return candidate if candidate.is_absolute() else base / candidate


def build_shared_manifest(data_root: str | Path) -> list[dict[str, str]]:
    """Rows for the Kermany pediatric pneumonia and NIH ChestX-ray14 subsets of ``data_root``.

    Kermany labels only pneumonia. NIH labels are mapped onto CheXpert findings with
    :data:`NIH_TO_FINDING`; findings NIH does not code stay empty.
    """
    root = Path(data_root).resolve()
    nih_findings = sorted(set(NIH_TO_FINDING.values()), key=lambda f: f.urgency_rank)
    rows: list[dict[str, str]] = []
    with (root / "kermany" / "labels.csv").open(newline="") as handle:
        for record in csv.DictReader(handle):
            row = {"path": str(root / "kermany" / record["path"]), "patient_id": f"kermany:{record['patient_key']}"}
            row |= {f.value: "" for f in nih_findings}
            row[Finding.PNEUMONIA.value] = "1" if record["label"].upper() == "PNEUMONIA" else "0"
            rows.append(row)
    with (root / "nih1000" / "labels.csv").open(newline="") as handle:
        for record in csv.DictReader(handle):
            present = {
                NIH_TO_FINDING[label] for label in record["finding_labels"].split("|") if label in NIH_TO_FINDING
            }
            row = {"path": str(root / "nih1000" / record["path"]), "patient_id": f"nih:{record['patient_id']}"}
            row |= {f.value: "1" if f in present else "0" for f in nih_findings}
            rows.append(row)
    return rows


def write_manifest(rows: list[dict[str, str]], path: str | Path) -> None:
    with Path(path).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def split_by_patient(patient_ids: list[str], valid_fraction: float, seed: int) -> npt.NDArray[np.bool_]:
    """A boolean mask of validation rows: a seeded random ``valid_fraction`` of patients."""
    patients = sorted(set(patient_ids))
    rng = np.random.default_rng(seed)
    chosen = set(rng.choice(patients, size=max(1, round(len(patients) * valid_fraction)), replace=False))
    return np.array([p in chosen for p in patient_ids])
