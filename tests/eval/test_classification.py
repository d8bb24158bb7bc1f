"""AUROC, ROC curve, bootstrap CI, operating point, reliability bins and the per-finding table."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from januscxr.errors import EvaluationInputError
from januscxr.eval.classification import bootstrap_auc_ci, operating_point, roc_auc, roc_curve
from januscxr.eval.figures import plot_reliability, plot_roc_curves
from januscxr.eval.findings import evaluate_finding
from januscxr.eval.reliability import reliability_bins
from januscxr.labels import Finding
from januscxr.models.calibration import expected_calibration_error

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_auc_of_a_tiny_example_by_hand() -> None:
    # Positives 0.8, 0.6, 0.4; negatives 0.5, 0.2. Pairs won: 0.8 > both (2), 0.6 > both (2),
    # 0.4 > 0.2 only (1): 5 of 6 pairs.
    assert roc_auc([1, 1, 1, 0, 0], [0.8, 0.6, 0.4, 0.5, 0.2]) == pytest.approx(5 / 6)


def test_auc_counts_ties_as_half() -> None:
    # Positive 0.5 ties negative 0.5 (1/2), beats 0.1 (1); positive 0.9 beats both (2): 3.5 of 4.
    assert roc_auc([1, 1, 0, 0], [0.5, 0.9, 0.5, 0.1]) == pytest.approx(3.5 / 4)


def test_auc_is_nan_with_one_class() -> None:
    assert math.isnan(roc_auc([1, 1], [0.2, 0.3]))


def test_roc_curve_by_hand_and_its_area_is_the_auc() -> None:
    fpr, tpr, thresholds = roc_curve([1, 1, 0, 0], [0.5, 0.9, 0.5, 0.1])
    np.testing.assert_allclose(thresholds, [np.inf, 0.9, 0.5, 0.1])
    np.testing.assert_allclose(tpr, [0, 0.5, 1, 1])
    np.testing.assert_allclose(fpr, [0, 0, 0.5, 1])
    rng = np.random.default_rng(0)
    y = rng.random(200) < 0.4
    s = np.round(y + rng.normal(0, 1, 200), 1)
    fpr, tpr, _ = roc_curve(y, s)
    assert np.trapezoid(tpr, fpr) == pytest.approx(roc_auc(y, s))


def test_bootstrap_ci_contains_the_estimate_and_is_reproducible() -> None:
    rng = np.random.default_rng(1)
    y = rng.random(150) < 0.3
    s = y * 0.7 + rng.normal(0, 0.5, 150)
    auc = roc_auc(y, s)
    first = bootstrap_auc_ci(y, s, n_boot=300, seed=7)
    assert first[0] < auc < first[1]
    assert bootstrap_auc_ci(y, s, n_boot=300, seed=7) == first
    assert bootstrap_auc_ci(y, s, n_boot=300, seed=8) != first
    wider = bootstrap_auc_ci(y, s, n_boot=300, seed=7, level=0.99)
    assert wider[0] <= first[0] and wider[1] >= first[1]


def test_operating_point_by_hand() -> None:
    # Flag >= 0.5: TP 2 (0.9, 0.6), FN 1 (0.3), FP 1 (0.7), TN 2 (0.2, 0.1).
    point = operating_point([1, 1, 1, 0, 0, 0], [0.9, 0.6, 0.3, 0.7, 0.2, 0.1], 0.5)
    assert (point.sensitivity, point.specificity, point.ppv, point.npv) == pytest.approx((2 / 3, 2 / 3, 2 / 3, 2 / 3))
    assert (point.n_positive, point.n_negative) == (3, 3)


def test_reliability_bins_by_hand_and_ece_from_models_calibration() -> None:
    p = [0.05, 0.15, 0.15, 0.95, 1.0]
    y = [0, 0, 1, 1, 1]
    bins = reliability_bins(p, y, bins=10)
    assert bins.counts.tolist() == [1, 2, 0, 0, 0, 0, 0, 0, 0, 2]
    assert bins.mean_probability[1] == pytest.approx(0.15) and bins.observed_rate[1] == pytest.approx(0.5)
    assert math.isnan(bins.mean_probability[2])
    # |0 - 0.05| * 1/5 + |0.5 - 0.15| * 2/5 + |1 - 0.975| * 2/5 = 0.01 + 0.14 + 0.01
    assert bins.ece == pytest.approx(0.16)
    assert bins.ece == expected_calibration_error(p, y, bins=10)
    filled = bins.counts > 0
    gaps = np.abs(bins.observed_rate[filled] - bins.mean_probability[filled])
    assert float(np.sum(bins.counts[filled] / 5 * gaps)) == pytest.approx(bins.ece)


def test_reliability_rejects_values_outside_zero_one() -> None:
    with pytest.raises(EvaluationInputError, match=r"\[0, 1\]"):
        reliability_bins([0.2, 1.2], [0, 1])


def test_evaluate_finding_skips_missing_truth_and_counts_it() -> None:
    rng = np.random.default_rng(2)
    y = (rng.random(120) < 0.4).astype(float)
    p = np.clip(0.5 * y + rng.random(120) * 0.5, 0, 1)
    y[:7] = np.nan
    row = evaluate_finding("pleural effusion", y, p, threshold=0.5, n_boot=200, seed=3)
    assert row.finding is Finding.PLEURAL_EFFUSION
    assert (row.n_cases, row.n_skipped) == (113, 7)
    assert row.auc == pytest.approx(roc_auc(y[7:] == 1, p[7:]))
    assert row.auc_ci[0] <= row.auc <= row.auc_ci[1]
    assert row.ece == row.reliability.ece
    assert row.comparison is None


def test_evaluate_finding_with_a_baseline_runs_delong() -> None:
    rng = np.random.default_rng(4)
    y = (rng.random(200) < 0.5).astype(float)
    good = np.clip(0.6 * y + rng.random(200) * 0.4, 0, 1)
    row = evaluate_finding(Finding.EDEMA, y, good, baseline=rng.random(200), n_boot=100)
    assert row.comparison is not None and row.comparison.p_value < 0.001


@pytest.mark.parametrize(
    ("truth", "probabilities", "message"),
    [
        ([0, 1, 2], [0.1, 0.2, 0.3], "other than 0, 1 and NaN"),
        ([0, 1, 1], [0.1, 1.5, 0.3], r"probabilities\[1\] is 1.5"),
        ([0, 1], [0.1, 0.2, 0.3], "one of each per case"),
    ],
)
def test_evaluate_finding_bad_input(truth: list[float], probabilities: list[float], message: str) -> None:
    with pytest.raises(EvaluationInputError, match=message):
        evaluate_finding(Finding.EDEMA, truth, probabilities, n_boot=10)


def test_figures_are_png_files(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    y = rng.random(80) < 0.5
    s = np.clip(y * 0.5 + rng.random(80) * 0.5, 0, 1)
    roc = plot_roc_curves({"Edema": (y, s), "Noise": (y, rng.random(80))}, tmp_path / "roc.png", aucs={"Edema": 0.9})
    rel = plot_reliability({"Edema": reliability_bins(s, y)}, tmp_path / "sub" / "rel.png")
    for path in (roc, rel):
        assert path.read_bytes()[:8] == PNG_MAGIC
