"""Reliability (calibration) curves: observed positive rate against mean predicted probability per bin.

The expected calibration error is computed once, by
:func:`januscxr.models.calibration.expected_calibration_error`; the bins here use its equal-width
binning so that the diagram and the number always agree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from januscxr.errors import EvaluationInputError
from januscxr.models.calibration import expected_calibration_error


@dataclass(frozen=True)
class ReliabilityBins:
    """Per-bin counts, mean probability and observed rate (NaN in empty bins), and the ECE."""

    edges: npt.NDArray[np.float64]  # (bins + 1,)
    counts: npt.NDArray[np.int64]  # (bins,)
    mean_probability: npt.NDArray[np.float64]  # (bins,)
    observed_rate: npt.NDArray[np.float64]  # (bins,)
    ece: float


def reliability_bins(probabilities: npt.ArrayLike, truth: npt.ArrayLike, bins: int = 10) -> ReliabilityBins:
    """Bin predictions into ``bins`` equal-width probability bins.

    Parameters
    ----------
    probabilities : array_like of float, shape (N,)
        Predicted probabilities in [0, 1].
    truth : array_like of {0, 1}, shape (N,)
        Observed outcomes.
    bins : int
        Number of equal-width bins on [0, 1]; the last bin includes 1.0.

    Returns
    -------
    ReliabilityBins
        ``ece`` equals ``sum(counts / N * |observed_rate - mean_probability|)`` over non-empty bins.
    """
    p = np.asarray(probabilities, dtype=np.float64)
    y = np.asarray(truth, dtype=np.float64)
    if p.shape != y.shape:
        raise EvaluationInputError(
            f"{p.size} probabilities but {y.size} outcomes; expected one outcome per probability"
        )
    if bins < 1:
        raise EvaluationInputError(f"bins is {bins}; expected a positive number of bins")
    if p.size and (not np.isfinite(p).all() or p.min() < 0.0 or p.max() > 1.0):
        raise EvaluationInputError("probabilities must be finite numbers in [0, 1]")
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)  # as expected_calibration_error bins
    counts = np.bincount(index, minlength=bins).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_p = np.bincount(index, weights=p, minlength=bins) / counts
        rate = np.bincount(index, weights=y, minlength=bins) / counts
    ece = expected_calibration_error(p, y, bins=bins) if p.size else float("nan")
    return ReliabilityBins(edges=edges, counts=counts, mean_probability=mean_p, observed_rate=rate, ece=ece)
