"""Refitting an expert's calibration and operating points on a hospital's own labelled images.

A published model's probabilities and thresholds were fitted on its publishers' populations; a
new hospital's scanners, patients and prevalence move both. ``januscxr models calibrate NAME
--manifest local.csv`` reads the manifest's images with the expert as deployed, then per finding:

- Platt scaling of the expert's probability, ``p' = sigmoid(logit(p) / T + b)`` (NLL minimised);
- the sensitive threshold maximising Youden's J, and the specific (urgent) one at specificity
  >= 0.95, kept only when chosen on at least ``MIN_URGENT_POSITIVES`` positives;
- AUC, sensitivity and specificity with 95% CIs from a patient-grouped bootstrap (whole patients
  resampled: images of one patient are not independent).

The thresholds are chosen and measured on the same cases, so the measured sensitivity and
specificity are optimistic; the AUC does not depend on the fit. The result is written to
``<models dir>/calibration/NAME.json`` (read by :func:`januscxr.models.experts.load_experts`) with a
Markdown card beside it.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from tqdm import tqdm

from januscxr.errors import JanusCxrError, ManifestError
from januscxr.eval.classification import operating_point, roc_auc
from januscxr.io import read_image
from januscxr.labels import Finding
from januscxr.models.base import Classifier
from januscxr.models.calibration import (
    MIN_URGENT_POSITIVES,
    expected_calibration_error,
    fit_platt,
    sigmoid,
    specific_threshold,
    youden_threshold,
)
from januscxr.models.expert_store import calibration_path
from januscxr.models.experts import load_experts
from januscxr.training.manifest import Manifest, read_manifest

logger = logging.getLogger(__name__)
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


def predict_probabilities(
    classifier: Classifier, paths: Sequence[Path], findings: Sequence[Finding], *, batch_size: int = 8
) -> FloatArray:
    """(N, K) probabilities as ``januscxr read`` reports them; NaN where unreadable or not reported."""
    probabilities = np.full((len(paths), len(findings)), np.nan)
    for start in tqdm(range(0, len(paths), batch_size), desc="predict", unit="batch", disable=len(paths) <= batch_size):
        rows, images = [], []
        for i in range(start, min(start + batch_size, len(paths))):
            try:
                images.append(read_image(paths[i]))
                rows.append(i)
            except JanusCxrError as error:
                logger.warning("skipping %s", error)
        for i, prediction in zip(rows, classifier.predict(images, heatmaps=False), strict=True):
            for k, finding in enumerate(findings):
                if finding in prediction.findings:
                    probabilities[i, k] = prediction.findings[finding].probability
    return probabilities


def grouped_bootstrap_ci(
    statistic: Callable[[npt.NDArray[np.intp]], float],
    patients: Sequence[str],
    *,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile CI of ``statistic(rows)`` over bootstrap samples of whole patients."""
    _, group = np.unique(np.asarray(patients), return_inverse=True)
    members = [np.flatnonzero(group == g) for g in range(group.max() + 1)] if len(group) else []
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(n_boot):
        chosen = rng.integers(0, len(members), len(members))
        value = statistic(np.concatenate([members[g] for g in chosen]))
        if np.isfinite(value):
            values.append(value)
    if not values:
        return (float("nan"), float("nan"))
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(values, [alpha, 1.0 - alpha])
    return (float(low), float(high))


def fit_finding(
    p: FloatArray, truth: BoolArray, patients: Sequence[str], *, n_boot: int, seed: int, min_specificity: float
) -> dict[str, Any]:
    """Platt scaling, both operating points and their patient-grouped bootstrap CIs for one finding."""
    logits = np.log(np.clip(p, 1e-7, 1 - 1e-7) / (1 - np.clip(p, 1e-7, 1 - 1e-7)))
    temperature, bias = fit_platt(logits, truth)
    calibrated = sigmoid(logits / temperature + bias)
    threshold = youden_threshold(calibrated, truth)
    positives = int(truth.sum())
    urgent = max(specific_threshold(calibrated, truth, min_specificity), threshold)
    reliable = positives >= MIN_URGENT_POSITIVES

    def rate(threshold_: float, positive: bool) -> Callable[[npt.NDArray[np.intp]], float]:
        def measure(rows: npt.NDArray[np.intp]) -> float:
            point = operating_point(truth[rows], calibrated[rows], threshold_)
            return point.sensitivity if positive else point.specificity

        return measure

    everyone = np.arange(len(truth))
    result: dict[str, Any] = {
        "positives": positives,
        "negatives": int((~truth).sum()),
        "patients": len(set(patients)),
        "temperature": temperature,
        "bias": bias,
        "threshold": threshold,
        "urgent_threshold": urgent if reliable else None,
        "auc": roc_auc(truth, p),
        "auc_ci95": list(grouped_bootstrap_ci(lambda r: roc_auc(truth[r], p[r]), patients, n_boot=n_boot, seed=seed)),
        "ece_before": expected_calibration_error(p, truth),
        "ece_after": expected_calibration_error(calibrated, truth),
    }
    points = {"sensitive": threshold} | ({"urgent": urgent} if reliable else {})
    for name, value in points.items():
        for measure, positive in (("sensitivity", True), ("specificity", False)):
            result[f"{name}_{measure}"] = rate(value, positive)(everyone)
            ci = grouped_bootstrap_ci(rate(value, positive), patients, n_boot=n_boot, seed=seed)
            result[f"{name}_{measure}_ci95"] = list(ci)
    return result


def calibrate_expert(
    name: str,
    manifest_path: str | Path,
    *,
    models_dir: Path | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    min_specificity: float = 0.95,
) -> dict[str, Any]:
    """Fit ``name``'s local calibration on the manifest's images; the document ``write_calibration`` stores."""
    manifest_path = Path(manifest_path)
    classifier = load_experts(name, models_dir=models_dir, calibrated=False)
    manifest = read_manifest(manifest_path)
    covered = tuple(f for f in manifest.findings if f in classifier.spec.labels)
    if not covered:
        raise ManifestError(
            f"{manifest_path}: no column for a finding {name} covers; it covers "
            f"{', '.join(f.value for f in classifier.spec.labels)}"
        )
    cases = manifest.select(covered)
    probabilities = predict_probabilities(classifier, cases.paths, covered)
    _require_both_classes(manifest_path, cases, probabilities)
    findings = {}
    for k, finding in enumerate(covered):
        rows = ~np.isnan(cases.labels[:, k]) & ~np.isnan(probabilities[:, k])
        patients = [cases.patient_ids[i] for i in np.flatnonzero(rows)]
        findings[finding.value] = fit_finding(
            probabilities[rows, k],
            cases.labels[rows, k].astype(bool),
            patients,
            n_boot=n_boot,
            seed=seed + k,
            min_specificity=min_specificity,
        )
    return {
        "model": name,
        "model_version": classifier.spec.version,
        "manifest": str(manifest_path),
        "manifest_sha256": hashlib.sha256(manifest_path.read_bytes()).hexdigest(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "cases": len(cases.paths),
        "unreadable": int(np.isnan(probabilities).all(axis=1).sum()),
        "patients": len(set(cases.patient_ids)),
        "not_covered": [f.value for f in manifest.findings if f not in covered],
        "rule": {
            "calibration": "Platt scaling of the expert's probability on the logit scale",
            "threshold": "Youden's J",
            "urgent_threshold": f"specificity >= {min_specificity}, only with >= {MIN_URGENT_POSITIVES} positives",
            "confidence_intervals": f"patient-grouped percentile bootstrap, {n_boot} resamples, seed {seed}",
        },
        "findings": findings,
    }


def _require_both_classes(path: Path, cases: Manifest, probabilities: FloatArray) -> None:
    """A finding without a labelled positive (or negative) among the readable images cannot be calibrated: name them."""
    missing = []
    for k, finding in enumerate(cases.findings):
        rows = ~np.isnan(cases.labels[:, k]) & ~np.isnan(probabilities[:, k])
        truth = cases.labels[rows, k]
        positives, negatives = int((truth == 1).sum()), int((truth == 0).sum())
        if positives == 0 or negatives == 0:
            missing.append(f"{finding.value} ({positives} positives, {negatives} negatives)")
    if missing:
        raise ManifestError(
            f"{path}: cannot calibrate {'; '.join(missing)}; expected at least one positive and one negative "
            "readable image per finding column (leave a column out to keep the expert's own calibration for it)"
        )


def write_calibration(document: dict[str, Any], models_dir: Path | None = None) -> tuple[Path, Path]:
    """Store the calibration where :func:`~januscxr.models.experts.load_experts` finds it, with its card."""
    path = calibration_path(document["model"], models_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, sort_keys=True, default=float) + "\n", encoding="utf-8")
    card = path.with_suffix(".md")
    card.write_text(calibration_card(document), encoding="utf-8")
    return path, card


def _ci(values: Sequence[float]) -> str:
    low, high = values
    return f"{low:.3f}-{high:.3f}" if np.isfinite(low) else "n/a"


def calibration_card(document: dict[str, Any]) -> str:
    """The local calibration as a model card section: numbers, CIs and how they were obtained."""
    lines = [
        f"# Local calibration: {document['model']}",
        "",
        f"Fitted {document['created']} on `{document['manifest']}` (sha256 {document['manifest_sha256'][:16]}...): "
        f"{document['cases']} images of {document['patients']} patients, {document['unreadable']} unreadable. "
        f"Model version {document['model_version']}.",
        "",
        "| finding | positives / negatives (patients) | AUC (95% CI) | T, b | threshold: sensitivity, specificity "
        "(95% CI) | urgent threshold: specificity (95% CI) | ECE before -> after |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, v in document["findings"].items():
        urgent = "none (fewer than 20 positives: never urgent)"
        if v["urgent_threshold"] is not None:
            urgent = f"{v['urgent_threshold']:.4f}: {v['urgent_specificity']:.3f} ({_ci(v['urgent_specificity_ci95'])})"
        lines.append(
            f"| {name} | {v['positives']} / {v['negatives']} ({v['patients']}) | {v['auc']:.3f} ({_ci(v['auc_ci95'])}) "
            f"| {v['temperature']:.3f}, {v['bias']:+.3f} | {v['threshold']:.4f}: {v['sensitive_sensitivity']:.3f} "
            f"({_ci(v['sensitive_sensitivity_ci95'])}), {v['sensitive_specificity']:.3f} "
            f"({_ci(v['sensitive_specificity_ci95'])}) | {urgent} | {v['ece_before']:.3f} -> {v['ece_after']:.3f} |"
        )
    rule = document["rule"]
    lines += [
        "",
        f"Calibration: {rule['calibration']}; threshold: {rule['threshold']}; urgent threshold: "
        f"{rule['urgent_threshold']}; CIs: {rule['confidence_intervals']}.",
        "The thresholds were chosen on the same images they are measured on: sensitivity and specificity are "
        "optimistic; the AUC does not depend on the fit. Decision support, not a diagnosis.",
    ]
    if document["not_covered"]:
        lines.append(f"Manifest columns the model does not cover (ignored): {', '.join(document['not_covered'])}.")
    return "\n".join(lines) + "\n"
