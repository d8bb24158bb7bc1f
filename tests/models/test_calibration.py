from __future__ import annotations

import numpy as np
import pytest

from januscxr.models.calibration import (
    binary_nll,
    expected_calibration_error,
    fit_platt,
    sigmoid,
    youden_threshold,
)


def test_platt_recovers_overconfidence_and_shift():
    rng = np.random.default_rng(0)
    true_logits = rng.normal(-1, 2, 20_000)
    truth = rng.random(true_logits.size) < sigmoid(true_logits)
    distorted = 3.0 * true_logits + 1.5  # overconfident, and shifted as class weighting shifts
    temperature, bias = fit_platt(distorted, truth)
    assert temperature == pytest.approx(3.0, rel=0.08)
    assert bias == pytest.approx(-0.5, abs=0.08)
    assert binary_nll(distorted / temperature + bias, truth) < binary_nll(distorted, truth)
    before = expected_calibration_error(sigmoid(distorted), truth)
    after = expected_calibration_error(sigmoid(distorted / temperature + bias), truth)
    assert after < before / 4


def test_platt_of_one_class_is_neutral():
    assert fit_platt([1.0, 2.0], [1, 1]) == (1.0, 0.0)


def test_youden_threshold_separates_perfectly_separable_scores():
    scores = np.array([0.1, 0.2, 0.3, 0.6, 0.7, 0.9])
    truth = np.array([0, 0, 0, 1, 1, 1])
    assert youden_threshold(scores, truth) == 0.6


def test_youden_threshold_by_hand():
    # thresholds 0.4: sens 1, spec 0.5 -> J .5; 0.5: sens 2/3 spec 1 -> J .667
    scores = np.array([0.2, 0.4, 0.5, 0.55, 0.4])
    truth = np.array([0, 0, 1, 1, 1])
    assert youden_threshold(scores, truth) == 0.5


def test_ece_is_zero_for_perfect_calibration_bins():
    p = np.repeat([0.25, 0.75], 400)
    y = np.r_[np.repeat([1, 0, 0, 0], 100), np.repeat([1, 1, 1, 0], 100)]
    assert expected_calibration_error(p, y) == pytest.approx(0.0, abs=1e-12)


def test_specific_threshold_keeps_the_specificity_and_flags_the_most():
    from januscxr.models.calibration import specific_threshold

    rng = np.random.default_rng(1)
    truth = rng.random(400) < 0.3
    p = np.clip(rng.normal(np.where(truth, 0.7, 0.3), 0.15), 0, 1)
    t = specific_threshold(p, truth, 0.95)
    assert (p[~truth] < t).mean() >= 0.95
    lower = np.unique(p)[np.unique(p) < t]
    assert lower.size == 0 or (p[~truth] < lower.max()).mean() < 0.95  # the next lower one fails
    assert specific_threshold([0.2, 0.9], [False, True], 0.95) == 0.9
    assert specific_threshold([0.2, 0.9], [True, False], 0.95) > 0.9  # nothing flagged
