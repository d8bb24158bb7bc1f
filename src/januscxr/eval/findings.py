"""The per-finding table: AUROC with a stratified bootstrap CI, calibration and one operating point."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from januscxr.errors import EvaluationInputError
from januscxr.eval.classification import OperatingPoint, bootstrap_auc_ci, operating_point, roc_auc
from januscxr.eval.delong import DeLongResult, delong_test
from januscxr.eval.reliability import ReliabilityBins, reliability_bins
from januscxr.labels import Finding


@dataclass(frozen=True)
class FindingEvaluation:
    """One row of the per-finding table.

    ``n_cases`` counts the cases with a truth label for this finding; ``n_skipped`` the cases
    left out because their truth was missing (NaN). ``auc_ci`` is the percentile interval of
    ``n_boot`` stratified bootstrap resamples (positives and negatives resampled separately).
    ``ece`` is the expected calibration error of ``reliability``'s equal-width bins;
    ``comparison`` is the DeLong test against a second model, when one was given.
    """

    finding: Finding
    n_cases: int
    n_positive: int
    n_skipped: int
    auc: float
    auc_ci: tuple[float, float]
    ci_level: float
    n_boot: int
    seed: int
    operating_point: OperatingPoint
    ece: float
    reliability: ReliabilityBins
    comparison: DeLongResult | None = None


def evaluate_finding(
    finding: Finding | str,
    truth: npt.ArrayLike,
    probabilities: npt.ArrayLike,
    *,
    threshold: float = 0.5,
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
    ece_bins: int = 10,
    baseline: npt.ArrayLike | None = None,
) -> FindingEvaluation:
    """Evaluate one finding's probabilities against 0/1 truth.

    Parameters
    ----------
    finding : Finding or str
        The finding evaluated (coerced with :meth:`Finding.coerce`).
    truth : array_like of float, shape (N,)
        1, 0, or NaN where the case has no label for this finding (skipped and counted).
    probabilities : array_like of float, shape (N,)
        The model's probabilities, finite and in [0, 1].
    threshold : float
        Operating point: a case is flagged when ``probability >= threshold``.
    n_boot, level, seed : int, float, int
        Bootstrap resamples, confidence level and the seed that makes the CI reproducible.
    ece_bins : int
        Equal-width bins of the reliability diagram and the ECE.
    baseline : array_like of float, shape (N,), optional
        A second model's probabilities on the same cases: adds a DeLong test (this - baseline).

    Returns
    -------
    FindingEvaluation
    """
    finding = Finding.coerce(finding)
    y = np.asarray(truth, dtype=np.float64)
    p = np.asarray(probabilities, dtype=np.float64)
    if y.shape != p.shape or y.ndim != 1:
        raise EvaluationInputError(
            f"{finding.value}: {y.size} truth values but {p.size} probabilities; expected one of each per case"
        )
    _check_probabilities(finding, p, "probabilities")
    labelled = ~np.isnan(y)
    if not np.isin(y[labelled], (0.0, 1.0)).all():
        raise EvaluationInputError(f"{finding.value}: truth holds values other than 0, 1 and NaN")
    y_bool, p = y[labelled].astype(bool), p[labelled]
    comparison = None
    if baseline is not None:
        b = np.asarray(baseline, dtype=np.float64)
        if b.shape != labelled.shape:
            raise EvaluationInputError(f"{finding.value}: baseline has {b.size} values; expected {labelled.size}")
        _check_probabilities(finding, b, "baseline probabilities")
        comparison = _compare(y_bool, p, b[labelled])
    reliability = reliability_bins(p, y_bool.astype(np.float64), bins=ece_bins)
    return FindingEvaluation(
        finding=finding,
        n_cases=int(labelled.sum()),
        n_positive=int(y_bool.sum()),
        n_skipped=int((~labelled).sum()),
        auc=roc_auc(y_bool, p),
        auc_ci=bootstrap_auc_ci(y_bool, p, n_boot=n_boot, level=level, seed=seed),
        ci_level=level,
        n_boot=n_boot,
        seed=seed,
        operating_point=operating_point(y_bool, p, threshold),
        ece=reliability.ece,
        reliability=reliability,
        comparison=comparison,
    )


def _compare(
    truth: npt.NDArray[np.bool_], scores: npt.NDArray[np.float64], baseline: npt.NDArray[np.float64]
) -> DeLongResult | None:
    """DeLong test of this model against the baseline; None when a class has fewer than two cases."""
    if truth.sum() < 2 or (~truth).sum() < 2:
        return None
    return delong_test(truth, scores, baseline)


def _check_probabilities(finding: Finding, values: npt.NDArray[np.float64], what: str) -> None:
    """Raise unless every value is a finite probability."""
    bad = ~np.isfinite(values) | (values < 0.0) | (values > 1.0)
    if bad.any():
        index = int(np.flatnonzero(bad)[0])
        raise EvaluationInputError(
            f"{finding.value}: {what}[{index}] is {float(values[index])!r}; expected a number in [0, 1] for every case"
        )
