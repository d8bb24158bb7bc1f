"""The specific (urgent) operating point of an exported classifier, chosen on held-out predictions.

The exported model's validation patients (the training split, reproduced from the manifest
and the training seed) are read by the classifier as deployed, then split again, by patient,
into two halves: half A chooses each finding's specific threshold (specificity >= 0.95), half B
measures both operating points. The validation split also chose the epoch, the Platt
calibration and the sensitive (Youden) threshold, so even half B is somewhat optimistic.
"""

from __future__ import annotations

import hashlib
import json
import logging
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from januscxr.eval.proportions import clustered_wilson_interval
from januscxr.labels import Finding
from januscxr.models.base import ClassifierSpec
from januscxr.models.calibration import MIN_URGENT_POSITIVES, specific_threshold
from januscxr.models.cxrnet_classifier import CxrNetClassifier
from januscxr.models.weights_file import weights_metadata
from januscxr.training.calibrate import predict_probabilities
from januscxr.training.manifest import Manifest, read_manifest, split_by_patient

logger = logging.getLogger(__name__)
FloatMatrix = npt.NDArray[np.float64]


def validation_cases(manifest_path: str | Path, *, valid_fraction: float = 0.2, seed: int = 0) -> Manifest:
    """The validation rows of a training run: the same patient split as ``train_classifier``."""
    manifest = read_manifest(manifest_path)
    rows = np.flatnonzero(split_by_patient(manifest.patient_ids, valid_fraction, seed))
    return Manifest(
        [manifest.paths[i] for i in rows],
        [manifest.patient_ids[i] for i in rows],
        manifest.findings,
        manifest.labels[rows],
    )


def load_exported(weights: str | Path) -> CxrNetClassifier:
    """An exported safetensors classifier as deployed (no registry, no checksum: a training tool)."""
    metadata = weights_metadata(weights)
    spec = ClassifierSpec(
        model_id=metadata.get("model_id", Path(weights).stem),
        version=metadata.get("version", "0"),
        labels=(),
        input_size=int(metadata.get("input_size", "0")),
        factory=CxrNetClassifier,
        weights=str(weights),
    )
    return CxrNetClassifier(spec, Path(weights))


def choose_operating_points(
    probabilities: FloatMatrix,
    labels: npt.NDArray[np.float32],
    patient_ids: Sequence[str],
    findings: Sequence[Finding],
    thresholds: Sequence[float],
    *,
    min_specificity: float = 0.95,
    half_seed: int = 0,
) -> dict[str, dict[str, Any]]:
    """Per finding: the specific threshold chosen on half A, both points measured on half B.

    The specific threshold is never below the sensitive one (``thresholds``): an urgent finding
    is always flagged. It is reliable only when half A holds ``MIN_URGENT_POSITIVES`` positives.
    """
    patients = np.asarray(patient_ids)
    in_b = split_by_patient(list(patient_ids), 0.5, half_seed)
    report: dict[str, dict[str, Any]] = {}
    for k, finding in enumerate(findings):
        known = ~np.isnan(labels[:, k]) & ~np.isnan(probabilities[:, k])
        a, b = known & ~in_b, known & in_b
        truth_a = labels[a, k].astype(bool)
        chosen = specific_threshold(probabilities[a, k], truth_a, min_specificity)
        urgent = max(chosen, float(thresholds[k]))
        n_positive_a = int(truth_a.sum())
        report[finding.value] = {
            "threshold": float(thresholds[k]),
            "urgent_threshold": urgent,
            "specific_threshold_on_a": chosen,
            "reliable": n_positive_a >= MIN_URGENT_POSITIVES,
            "half_a": {"positives": n_positive_a, "negatives": int((~truth_a).sum())},
            "half_b": _measure(probabilities[b, k], labels[b, k].astype(bool), patients[b], thresholds[k], urgent, k),
        }
    return report


def _measure(
    p: FloatMatrix, truth: npt.NDArray[np.bool_], patients: npt.NDArray[Any], sensitive: float, urgent: float, seed: int
) -> dict[str, Any]:
    """Sensitivity and specificity (95% CIs, patient-clustered Wilson) of both points on one half."""
    measured: dict[str, Any] = {
        "positives": int(truth.sum()),
        "negatives": int((~truth).sum()),
        "patients": len(set(patients.tolist())),
    }
    for name, threshold in (("sensitive", sensitive), ("urgent", urgent)):
        flagged = p >= threshold
        sensitivity, specificity = flagged[truth], ~flagged[~truth]
        measured[name] = {
            "sensitivity": float(sensitivity.mean()) if sensitivity.size else float("nan"),
            "sensitivity_ci95": list(clustered_wilson_interval(sensitivity, patients[truth], seed=seed)),
            "specificity": float(specificity.mean()) if specificity.size else float("nan"),
            "specificity_ci95": list(clustered_wilson_interval(specificity, patients[~truth], seed=seed)),
        }
    return measured


def write_operating_points(
    weights: str | Path, out: str | Path, report: dict[str, dict[str, Any]], *, rule: dict[str, Any]
) -> str:
    """Copy ``weights`` to ``out`` with the urgent thresholds in its metadata; return the new sha256.

    ``urgent_positives`` is stored beside each threshold: the reader ignores a threshold chosen
    on fewer than ``MIN_URGENT_POSITIVES`` positives. The tensor bytes are copied unchanged and
    only the safetensors JSON header is rewritten, with sorted keys: ``save_file`` writes the
    metadata in hash order, so the same numbers would give a new sha256 on every run.
    """
    data = Path(weights).read_bytes()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + length])
    header["__metadata__"] = header.get("__metadata__", {}) | {
        "urgent_thresholds": json.dumps({f: v["urgent_threshold"] for f, v in report.items()}),
        "urgent_positives": json.dumps({f: v["half_a"]["positives"] for f, v in report.items()}),
        "urgent_rule": json.dumps(rule, sort_keys=True),
    }
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the format pads the header to 8 bytes with spaces
    out = Path(out)
    partial = out.with_suffix(".partial")
    partial.write_bytes(struct.pack("<Q", len(text)) + text + data[8 + length :])
    partial.replace(out)  # out may be weights itself: never leave it half-written
    return hashlib.sha256(out.read_bytes()).hexdigest()


def fit_operating_points(
    manifest: str | Path,
    weights: str | Path,
    out: str | Path,
    *,
    valid_fraction: float = 0.2,
    seed: int = 0,
    half_seed: int = 0,
    min_specificity: float = 0.95,
) -> dict[str, Any]:
    """Read the validation patients, choose and measure the operating points, write ``out``."""
    classifier = load_exported(weights)
    findings = [classifier.findings[k] for k in classifier.offered]
    cases = validation_cases(manifest, valid_fraction=valid_fraction, seed=seed).select(tuple(findings))
    probabilities = predict_probabilities(classifier, cases.paths, findings, batch_size=64)
    thresholds = [classifier.thresholds[k] for k in classifier.offered]
    report = choose_operating_points(
        probabilities,
        cases.labels,
        cases.patient_ids,
        findings,
        thresholds,
        min_specificity=min_specificity,
        half_seed=half_seed,
    )
    rule = {
        "min_specificity": min_specificity,
        "min_positives": MIN_URGENT_POSITIVES,
        "valid_fraction": valid_fraction,
        "seed": seed,
        "half_seed": half_seed,
    }
    sha256 = write_operating_points(weights, out, report, rule=rule)
    unreadable = int(np.isnan(probabilities).all(axis=1).sum())
    return {
        "weights": Path(out).name,
        "sha256": sha256,
        "rule": rule,
        "cases": len(cases.paths),
        "unreadable": unreadable,
        "findings": report,
    }
