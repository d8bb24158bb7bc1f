"""DeLong's test: a hand-computed case and agreement with the direct O(m n) structural components."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pytest
from scipy.stats import norm

from januscxr.errors import EvaluationInputError
from januscxr.eval.delong import delong_auc_ci, delong_covariance, delong_test

# Positives X_a = (0.9, 0.8, 0.3), negatives Y_a = (0.5, 0.1):
#   V10_a = (1, 1, 1/2), V01_a = (2/3, 1), AUC_a = 5/6,
#   S10_a = var(1, 1, 1/2) = 1/12, S01_a = var(2/3, 1) = 1/18, Var_a = (1/12)/3 + (1/18)/2 = 1/18.
# Positives X_b = (0.6, 0.7, 0.8), negatives Y_b = (0.2, 0.9):
#   V10_b = (1/2, 1/2, 1/2), V01_b = (1, 0), AUC_b = 1/2, Var_b = 0/3 + (1/2)/2 = 1/4.
# Cov: S10_ab = 0 (V10_b constant), S01_ab = cov((2/3, 1), (1, 0)) = -1/6, Cov_ab = -1/12.
# Var(AUC_a - AUC_b) = 1/18 + 1/4 + 2/12 = 17/36; z = (1/3) / sqrt(17/36) = 2 / sqrt(17).
TRUTH = [1, 1, 1, 0, 0]
SCORES_A = [0.9, 0.8, 0.3, 0.5, 0.1]
SCORES_B = [0.6, 0.7, 0.8, 0.2, 0.9]


def test_hand_computed_example() -> None:
    aucs, cov = delong_covariance(TRUTH, SCORES_A, SCORES_B)
    assert aucs == pytest.approx([5 / 6, 1 / 2])
    assert cov == pytest.approx(np.array([[1 / 18, -1 / 12], [-1 / 12, 1 / 4]]))
    result = delong_test(TRUTH, SCORES_A, SCORES_B)
    assert result.difference == pytest.approx(1 / 3)
    assert result.se == pytest.approx(math.sqrt(17 / 36))
    assert result.z == pytest.approx(2 / math.sqrt(17))
    assert result.p_value == pytest.approx(2 * norm.sf(2 / math.sqrt(17)))  # 0.6276
    assert result.p_value == pytest.approx(0.62763, abs=1e-5)
    half = norm.ppf(0.975) * math.sqrt(17 / 36)
    assert result.ci == pytest.approx((1 / 3 - half, 1 / 3 + half))


def direct_covariance(truth: npt.ArrayLike, *scores: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """DeLong et al. (1988) by definition: psi over every positive-negative pair."""
    y = np.asarray(truth, dtype=bool)
    v10, v01, aucs = [], [], []
    for s in scores:
        s = np.asarray(s, dtype=float)
        x, z = s[y], s[~y]
        psi = (x[:, None] > z[None, :]) + 0.5 * (x[:, None] == z[None, :])  # (m, n)
        v10.append(psi.mean(axis=1))
        v01.append(psi.mean(axis=0))
        aucs.append(psi.mean())
    m, n = int(y.sum()), int((~y).sum())
    return np.array(aucs), np.atleast_2d(np.cov(np.array(v10))) / m + np.atleast_2d(np.cov(np.array(v01))) / n


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fast_delong_equals_direct_structural_components(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.random(300) < 0.3
    a = np.round(y * 0.8 + rng.normal(0, 1, 300), 1)  # rounding makes many ties
    b = np.round(y * 0.4 + rng.normal(0, 1, 300), 1)
    c = rng.integers(0, 4, 300).astype(float)  # heavy ties
    aucs, cov = delong_covariance(y, a, b, c)
    direct_aucs, direct_cov = direct_covariance(y, a, b, c)
    np.testing.assert_allclose(aucs, direct_aucs, atol=1e-12)
    np.testing.assert_allclose(cov, direct_cov, atol=1e-12)


def test_identical_scorers_have_p_value_one() -> None:
    result = delong_test(TRUTH, SCORES_A, SCORES_A)
    assert result.difference == 0.0 and result.p_value == 1.0 and math.isnan(result.z)


def test_strong_difference_is_significant() -> None:
    rng = np.random.default_rng(5)
    y = rng.random(400) < 0.5
    good, noise = y + rng.normal(0, 0.5, 400), rng.normal(0, 1, 400)
    result = delong_test(y, good, noise)
    assert result.auc_a > 0.85 and abs(result.auc_b - 0.5) < 0.1
    assert result.p_value < 1e-6 and result.ci[0] > 0


def test_single_auc_ci_contains_the_auc() -> None:
    low, high = delong_auc_ci(TRUTH, SCORES_A)
    half = norm.ppf(0.975) * math.sqrt(1 / 18)
    assert (low, high) == pytest.approx((5 / 6 - half, 1.0))  # clipped at 1


@pytest.mark.parametrize(
    ("truth", "a", "b", "message"),
    [
        ([1, 0, 0, 0], [0.1, 0.2, 0.3, 0.4], [0.1, 0.2, 0.3, 0.4], "at least two positive"),
        ([1, 1, 0, 0], [0.1, 0.2, 0.3], [0.1, 0.2, 0.3, 0.4], "expected one score per case"),
        ([1, 1, 0, 0], [0.1, float("nan"), 0.3, 0.4], [0.1, 0.2, 0.3, 0.4], "NaN"),
    ],
)
def test_bad_input_raises(truth: list[int], a: list[float], b: list[float], message: str) -> None:
    with pytest.raises(EvaluationInputError, match=message):
        delong_test(truth, a, b)
