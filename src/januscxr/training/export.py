"""Calibrating a trained classifier on validation and writing its safetensors file."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.torch import save_file

from januscxr.eval.classification import bootstrap_auc_ci, operating_point, roc_auc
from januscxr.models.calibration import expected_calibration_error, fit_platt, sigmoid, youden_threshold
from januscxr.training.trainer import TrainedModel


def calibrate(trained: TrainedModel) -> dict[str, dict[str, Any]]:
    """Per finding: Platt temperature and bias, Youden threshold and the validation statistics behind them."""
    report: dict[str, dict[str, Any]] = {}
    for k, finding in enumerate(trained.findings):
        known = ~np.isnan(trained.valid_labels[:, k])
        truth = trained.valid_labels[known, k].astype(bool)
        logits = trained.valid_logits[known, k].astype(np.float64)
        temperature, bias = fit_platt(logits, truth)
        probability = sigmoid(logits / temperature + bias)
        threshold = youden_threshold(probability, truth)
        point = operating_point(truth, probability, threshold)
        low, high = bootstrap_auc_ci(truth, probability, seed=k)
        report[finding.value] = {
            # Offered to users only when better than chance with 95% confidence.
            "offered": bool(low > 0.5),
            "temperature": temperature,
            "bias": bias,
            "threshold": threshold,
            "auc": roc_auc(truth, probability),
            "auc_ci95": [low, high],
            "sensitivity": point.sensitivity,
            "specificity": point.specificity,
            "ppv": point.ppv,
            "npv": point.npv,
            "n_positive": point.n_positive,
            "n_negative": point.n_negative,
            "ece_uncalibrated": expected_calibration_error(sigmoid(logits), truth),
            "ece_calibrated": expected_calibration_error(probability, truth),
        }
    return report


def export_classifier(trained: TrainedModel, path: str | Path, *, model_id: str, version: str) -> dict[str, Any]:
    """Write weights plus calibration metadata as one safetensors file; return its summary."""
    path = Path(path)
    validation = calibrate(trained)
    metadata = {
        "model_id": model_id,
        "version": version,
        "architecture": "cxrnet",
        "findings": json.dumps([f.value for f in trained.findings]),
        "offered": json.dumps([f for f, v in validation.items() if v["offered"]]),
        "input_size": str(trained.config.input_size),
        "widths": json.dumps(trained.config.widths),
        "temperatures": json.dumps({f: v["temperature"] for f, v in validation.items()}),
        "biases": json.dumps({f: v["bias"] for f, v in validation.items()}),
        "thresholds": json.dumps({f: v["threshold"] for f, v in validation.items()}),
    }
    state = {k: v.detach().contiguous() for k, v in trained.model.state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path), metadata=metadata)
    sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    summary = {
        "model_id": model_id,
        "version": version,
        "weights": path.name,
        "sha256": sha256,
        "size_bytes": path.stat().st_size,
        "config": trained.config.__dict__,
        "history": trained.history,
        "validation": validation,
    }
    path.with_suffix(".json").write_text(json.dumps(summary, indent=2, default=float))
    return summary
