"""Temperature scaling and operating thresholds, fitted on validation predictions.

Rules (stated in every model card):
- Calibration: one temperature per finding, the value on a log grid from 0.25 to 8
  that minimises the binary cross-entropy of the validation logits.
- Operating threshold: the calibrated probability that maximises Youden's J
  (sensitivity + specificity - 1) on validation; ties go to the higher threshold.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

_TEMPERATURE_GRID = np.exp(np.linspace(np.log(0.25), np.log(8.0), 241))


def sigmoid(x: npt.ArrayLike) -> FloatArray:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


def binary_nll(logits: npt.ArrayLike, truth: npt.ArrayLike) -> float:
    """Mean binary cross-entropy of logits against 0/1 truth, numerically stable."""
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(truth, dtype=np.float64)
    return float(np.mean(np.logaddexp(0.0, z) - y * z))


def fit_temperature(logits: npt.ArrayLike, truth: npt.ArrayLike) -> float:
    """The temperature T minimising the NLL of sigmoid(logits / T)."""
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(truth, dtype=np.float64)
    if z.size == 0 or y.min() == y.max():
        return 1.0
    losses = [binary_nll(z / t, y) for t in _TEMPERATURE_GRID]
    return float(_TEMPERATURE_GRID[int(np.argmin(losses))])


def youden_threshold(probabilities: npt.ArrayLike, truth: npt.ArrayLike) -> float:
    """The probability threshold maximising sensitivity + specificity - 1."""
    p = np.asarray(probabilities, dtype=np.float64)
    y = np.asarray(truth, dtype=bool)
    if y.all() or not y.any():
        return 0.5
    best_j, best_t = -1.0, 0.5
    for t in np.unique(p):
        flagged = p >= t
        j = flagged[y].mean() + (~flagged[~y]).mean() - 1.0
        if j >= best_j:
            best_j, best_t = j, float(t)
    return best_t


def expected_calibration_error(probabilities: npt.ArrayLike, truth: npt.ArrayLike, bins: int = 10) -> float:
    """ECE with equal-width bins: the weighted mean |accuracy - confidence| gap."""
    p = np.asarray(probabilities, dtype=np.float64)
    y = np.asarray(truth, dtype=np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        members = index == b
        if members.any():
            total += members.mean() * abs(y[members].mean() - p[members].mean())
    return float(total)
