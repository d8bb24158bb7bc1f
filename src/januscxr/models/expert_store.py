"""Where converted expert weights and local calibrations live, and checking them before use.

``<models dir>/<model id>/<model id>.safetensors`` is the converted file and
``<models dir>/<model id>/januscxr-expert.json`` records its sha256 (and the published file's) at
conversion; loading refuses a file that no longer matches. ``<models dir>/calibration/<name>.json``
holds what ``januscxr models calibrate`` fitted on a hospital's own cases. Nothing here imports torch.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from januscxr.errors import ChecksumMismatchError, WeightsNotFoundError
from januscxr.models.base import ClassifierSpec
from januscxr.models.weights_file import file_sha256

RECORD = "januscxr-expert.json"


def models_root(models_dir: Path | None = None) -> Path:
    """``models_dir``, else ``~/.cache/januscxr/models`` (the same default as vision-language weights).

    Settings (``models_dir``, ``JANUSCXR_MODELS_DIR``) are read at the edges, which pass the folder in.
    """
    return Path(models_dir).expanduser() if models_dir is not None else Path.home() / ".cache" / "januscxr" / "models"


def expert_folder(model_id: str, models_dir: Path | None = None) -> Path:
    return models_root(models_dir) / model_id


def read_record(folder: Path) -> dict[str, Any] | None:
    path = folder / RECORD
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def write_record(folder: Path, record: dict[str, Any]) -> None:
    (folder / RECORD).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def require_converted(spec: ClassifierSpec, models_dir: Path | None = None) -> Path:
    """The converted weights of a published expert, checked against the sha256 recorded at conversion."""
    folder = expert_folder(spec.model_id, models_dir)
    record = read_record(folder)
    weights = folder / f"{spec.model_id}.safetensors"
    if record is None or not weights.is_file():
        raise WeightsNotFoundError(f"{spec.model_id}: weights not present in {folder}; {spec.obtain}")
    actual = file_sha256(weights)
    if actual != record.get("sha256"):
        raise ChecksumMismatchError(
            f"{weights}: sha256 is {actual}; expected {record.get('sha256')} recorded at conversion "
            "(file damaged or replaced: convert the published file again)"
        )
    return weights


def converted_status(spec: ClassifierSpec, models_dir: Path | None = None) -> str:
    """One line for ``januscxr models list``: present with its sha256, or how to get the weights."""
    folder = expert_folder(spec.model_id, models_dir)
    record = read_record(folder)
    if record is None or not (folder / f"{spec.model_id}.safetensors").is_file():
        return f"weights not present in {folder}: {spec.obtain}"
    return f"weights converted in {folder} (sha256 {record.get('sha256')}, from {record.get('source_file')})"


def calibration_path(name: str, models_dir: Path | None = None) -> Path:
    """The local calibration of a classifier or a combination (``a,b`` is stored as ``a+b``)."""
    return models_root(models_dir) / "calibration" / f"{name.replace(',', '+')}.json"
