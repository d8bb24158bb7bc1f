"""DeLong's test for two correlated AUCs measured on the same cases.

The fast algorithm of Sun and Xu (2014, IEEE Signal Processing Letters 21:1389) computes
DeLong, DeLong and Clarke-Pearson's (1988, Biometrics 44:837) structural components from
midranks in O(N log N) instead of comparing every positive with every negative.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.stats import norm, rankdata

from januscxr.errors import EvaluationInputError

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class DeLongResult:
    """Two AUCs on the same cases, their difference and its test.

    ``difference`` is ``auc_a - auc_b``; ``ci`` is its confidence interval at ``level``;
    ``p_value`` is two-sided for the null hypothesis that the AUCs are equal.
    """

    auc_a: float
    auc_b: float
    difference: float
    se: float
    z: float
    p_value: float
    ci: tuple[float, float]
    level: float
    n_positive: int
    n_negative: int


def delong_covariance(truth: npt.ArrayLike, *scores: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """AUCs of several scorers on the same cases and DeLong's covariance matrix of them.

    Parameters
    ----------
    truth : array_like of bool or {0, 1}, shape (N,)
        Reference labels; both classes must be present.
    *scores : array_like of float, shape (N,)
        One score vector per scorer, higher meaning more likely positive.

    Returns
    -------
    aucs : ndarray, shape (K,)
        The AUC of each scorer (ties count one half).
    covariance : ndarray, shape (K, K)
        ``S10 / m + S01 / n``, with ``S10`` and ``S01`` the sample covariances (ddof 1) of the
        structural components over the ``m`` positives and ``n`` negatives.
    """
    y = np.asarray(truth, dtype=bool)
    if not scores:
        raise EvaluationInputError("delong_covariance needs at least one score vector; received none")
    vectors = [np.asarray(v, dtype=np.float64).ravel() for v in scores]
    for k, vector in enumerate(vectors):
        if vector.size != y.size:
            raise EvaluationInputError(
                f"scores[{k}] has {vector.size} values but truth has {y.size}; expected one score per case"
            )
    s = np.vstack(vectors)  # (K, N)
    if not np.isfinite(s).all():
        raise EvaluationInputError("scores contain NaN or infinite values; expected finite numbers")
    m, n = int(y.sum()), int((~y).sum())
    if m < 2 or n < 2:
        raise EvaluationInputError(
            f"DeLong's test needs at least two positive and two negative cases; received {m} positive, {n} negative"
        )
    positives, negatives = s[:, y], s[:, ~y]  # (K, m), (K, n)
    v10, v01, aucs = _structural_components(positives, negatives)
    covariance = np.atleast_2d(np.cov(v10)) / m + np.atleast_2d(np.cov(v01)) / n
    return aucs, covariance


def delong_test(
    truth: npt.ArrayLike,
    scores_a: npt.ArrayLike,
    scores_b: npt.ArrayLike,
    *,
    level: float = 0.95,
) -> DeLongResult:
    """Test whether two scorers have the same AUC on the same cases (paired DeLong test).

    Parameters
    ----------
    truth : array_like of bool or {0, 1}, shape (N,)
        Reference labels.
    scores_a, scores_b : array_like of float, shape (N,)
        The two scorers' outputs for the same N cases, in the same order.
    level : float
        Confidence level of the interval around the difference.

    Returns
    -------
    DeLongResult
        The AUCs, ``z = (auc_a - auc_b) / se`` and its two-sided normal p-value. When the
        difference has zero variance (identical rankings) ``z`` is NaN and the p-value 1.
    """
    aucs, cov = delong_covariance(truth, scores_a, scores_b)
    difference = float(aucs[0] - aucs[1])
    variance = float(cov[0, 0] + cov[1, 1] - 2.0 * cov[0, 1])
    se = float(np.sqrt(variance)) if variance > 0 else 0.0
    if se > 0:
        z = difference / se
        p_value = float(2.0 * norm.sf(abs(z)))
    else:
        z, p_value = float("nan"), 1.0 if difference == 0 else float("nan")
    half = float(norm.ppf(0.5 + level / 2.0)) * se
    y = np.asarray(truth, dtype=bool)
    return DeLongResult(
        auc_a=float(aucs[0]),
        auc_b=float(aucs[1]),
        difference=difference,
        se=se,
        z=float(z),
        p_value=p_value,
        ci=(difference - half, difference + half),
        level=level,
        n_positive=int(y.sum()),
        n_negative=int((~y).sum()),
    )


def delong_auc_ci(truth: npt.ArrayLike, scores: npt.ArrayLike, *, level: float = 0.95) -> tuple[float, float]:
    """Asymptotic (DeLong) confidence interval of one AUC, clipped to [0, 1]."""
    aucs, cov = delong_covariance(truth, scores)
    half = float(norm.ppf(0.5 + level / 2.0)) * float(np.sqrt(max(cov[0, 0], 0.0)))
    return (max(0.0, float(aucs[0]) - half), min(1.0, float(aucs[0]) + half))


def _structural_components(positives: FloatArray, negatives: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """V10 (K, m), V01 (K, n) and the AUCs (K,) from midranks (Sun and Xu's algorithm)."""
    m, n = positives.shape[1], negatives.shape[1]
    combined = np.hstack([positives, negatives])
    rank_all = rankdata(combined, axis=1)  # midranks among all cases
    rank_pos = rankdata(positives, axis=1)  # midranks among positives
    rank_neg = rankdata(negatives, axis=1)  # midranks among negatives
    # Positive i beats (rank_all - rank_pos) negatives, counting ties as one half.
    v10 = (rank_all[:, :m] - rank_pos) / n
    v01 = 1.0 - (rank_all[:, m:] - rank_neg) / m
    aucs = (rank_all[:, :m].sum(axis=1) - m * (m + 1) / 2.0) / (m * n)
    return v10, v01, aucs
