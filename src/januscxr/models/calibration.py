"""Platt scaling and operating thresholds, fitted on validation predictions.

Rules (stated in every model card):
- Calibration: per finding, a temperature T and a bias b, p = sigmoid(logit / T + b),
  minimising the binary cross-entropy on validation (Platt scaling). The bias undoes the
  shift that class weighting puts into the logits; the temperature undoes overconfidence.
- Operating threshold (sensitive point): the calibrated probability that maximises Youden's J
  (sensitivity + specificity - 1) on validation; ties go to the higher threshold.
- Urgent threshold (specific point): the lowest calibrated probability at which at least 95%
  of held-out negatives stay under it; one chosen on fewer than ``MIN_URGENT_POSITIVES``
  positives is unreliable and never raises urgency.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.optimize import minimize

FloatArray = npt.NDArray[np.float64]

# A specific operating point chosen on fewer positives than this never raises urgency.
MIN_URGENT_POSITIVES = 20


def sigmoid(x: npt.ArrayLike) -> FloatArray:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


def binary_nll(logits: npt.ArrayLike, truth: npt.ArrayLike) -> float:
    """Mean binary cross-entropy of logits against 0/1 truth, numerically stable."""
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(truth, dtype=np.float64)
    return float(np.mean(np.logaddexp(0.0, z) - y * z))


def fit_platt(logits: npt.ArrayLike, truth: npt.ArrayLike) -> tuple[float, float]:
    """Temperature T (kept within 0.1..20) and bias b minimising the NLL of sigmoid(logits / T + b)."""
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(truth, dtype=np.float64)
    if z.size == 0 or y.min() == y.max():
        return (1.0, 0.0)

    def loss(params: npt.NDArray[np.float64]) -> float:
        return binary_nll(z * params[0] + params[1], y)

    fitted = minimize(loss, x0=np.array([1.0, 0.0]), method="L-BFGS-B", bounds=[(0.05, 10.0), (-20.0, 20.0)])
    scale, bias = (float(v) for v in fitted.x)
    return (1.0 / scale, bias)


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


def specific_threshold(probabilities: npt.ArrayLike, truth: npt.ArrayLike, min_specificity: float = 0.95) -> float:
    """The lowest threshold at which ``probability >= threshold`` has specificity >= ``min_specificity``.

    Candidates are the observed probabilities and the next float above the largest one (nothing
    flagged, specificity 1); the lowest passing candidate flags the most positives.
    """
    p = np.asarray(probabilities, dtype=np.float64)
    negatives = np.sort(p[~np.asarray(truth, dtype=bool)])
    candidates = np.r_[np.unique(p), np.nextafter(p.max(initial=0.0), np.inf)]
    # specificity at t: negatives strictly under t, found by binary search on the sorted negatives
    specificity = np.searchsorted(negatives, candidates, side="left") / max(negatives.size, 1)
    passing = candidates[specificity >= min_specificity] if negatives.size else candidates
    return float(passing.min())


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
