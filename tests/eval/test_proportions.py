"""Wilson intervals on the effective sample size of patient-clustered cases."""

from __future__ import annotations

import numpy as np
import pytest

from januscxr.eval.proportions import clustered_wilson_interval
from januscxr.eval.reader_study import wilson_interval


def test_independent_cases_give_the_wilson_interval():
    hits = np.r_[np.ones(30, bool), np.zeros(10, bool)]
    low, high = clustered_wilson_interval(hits, np.arange(40))
    expected = wilson_interval(30, 40)
    assert low == pytest.approx(expected[0], abs=0.02) and high == pytest.approx(expected[1], abs=0.02)


def test_all_hits_keep_a_wide_interval():
    low, high = clustered_wilson_interval(np.ones(5, bool), ["a", "a", "b", "c", "d"])
    assert (low, high) == pytest.approx(wilson_interval(5, 5))
    assert low < 0.6 and high == 1.0


def test_clustered_cases_widen_the_interval():
    """Ten patients, ten identical images each: worth about ten cases, not a hundred."""
    patient_hits = np.array([1, 1, 1, 1, 1, 1, 1, 0, 0, 0], bool)
    hits, patients = np.repeat(patient_hits, 10), np.repeat(np.arange(10), 10)
    low, high = clustered_wilson_interval(hits, patients)
    naive = wilson_interval(70, 100)
    assert high - low > 1.8 * (naive[1] - naive[0])
    assert low < 0.7 < high


def test_no_cases():
    assert all(np.isnan(clustered_wilson_interval([], [])))
