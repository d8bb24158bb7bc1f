"""Classification metrics: AUROC and its ROC curve, stratified bootstrap CIs, operating-point statistics.

The DeLong test comparing two AUCs is in :mod:`januscxr.eval.delong`; the per-finding table in
:mod:`januscxr.eval.findings`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.stats import rankdata


def roc_auc(truth: npt.ArrayLike, scores: npt.ArrayLike) -> float:
    """Area under the ROC curve (Mann-Whitney U with midranks for ties).

    Returns NaN when only one class is present.
    """
    y = np.asarray(truth, dtype=bool)
    s = np.asarray(scores, dtype=np.float64)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(s)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def roc_curve(
    truth: npt.ArrayLike, scores: npt.ArrayLike
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """False- and true-positive rates at every distinct score, from (0, 0) to (1, 1).

    Parameters
    ----------
    truth : array_like of bool or {0, 1}, shape (N,)
        Reference labels.
    scores : array_like of float, shape (N,)
        Higher means more likely positive.

    Returns
    -------
    fpr, tpr, thresholds : ndarray
        Point ``k`` is the rate of ``scores >= thresholds[k]``; ``thresholds[0]`` is ``inf``
        (nothing flagged). The trapezoidal area under ``(fpr, tpr)`` equals :func:`roc_auc`.
        Rates are NaN when a class is absent.
    """
    y = np.asarray(truth, dtype=bool)
    s = np.asarray(scores, dtype=np.float64)
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(s)), s.size - 1] if s.size else np.array([], dtype=int)
    tps = np.cumsum(y)[last_of_tie]
    fps = (last_of_tie + 1) - tps
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        tpr = np.r_[0.0, tps / n_pos] if n_pos else np.full(tps.size + 1, np.nan)
        fpr = np.r_[0.0, fps / n_neg] if n_neg else np.full(fps.size + 1, np.nan)
    return fpr, tpr, np.r_[np.inf, s[last_of_tie]]


def bootstrap_auc_ci(
    truth: npt.ArrayLike,
    scores: npt.ArrayLike,
    *,
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile CI of the AUROC, resampling positives and negatives separately."""
    y = np.asarray(truth, dtype=bool)
    s = np.asarray(scores, dtype=np.float64)
    pos, neg = s[y], s[~y]
    if pos.size == 0 or neg.size == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    labels = np.r_[np.ones(pos.size, bool), np.zeros(neg.size, bool)]
    aucs = np.empty(n_boot)
    for b in range(n_boot):
        sample = np.r_[rng.choice(pos, pos.size), rng.choice(neg, neg.size)]
        aucs[b] = roc_auc(labels, sample)
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(aucs, [alpha, 1.0 - alpha])
    return (float(low), float(high))


@dataclass(frozen=True)
class OperatingPoint:
    """Confusion-matrix statistics of scores thresholded at ``threshold``."""

    threshold: float
    sensitivity: float
    specificity: float
    ppv: float
    npv: float
    n_positive: int
    n_negative: int


def operating_point(truth: npt.ArrayLike, scores: npt.ArrayLike, threshold: float) -> OperatingPoint:
    """Sensitivity, specificity, PPV and NPV of ``scores >= threshold``."""
    y = np.asarray(truth, dtype=bool)
    flagged = np.asarray(scores, dtype=np.float64) >= threshold
    tp, fp = int((flagged & y).sum()), int((flagged & ~y).sum())
    fn, tn = int((~flagged & y).sum()), int((~flagged & ~y).sum())
    return OperatingPoint(
        threshold=threshold,
        sensitivity=_ratio(tp, tp + fn),
        specificity=_ratio(tn, tn + fp),
        ppv=_ratio(tp, tp + fp),
        npv=_ratio(tn, tn + fn),
        n_positive=tp + fn,
        n_negative=tn + fp,
    )


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else float("nan")
