"""JSON records carry both operating points; numbers print with the digits that decide a flag."""

from __future__ import annotations

import pytest

from januscxr.labels import Finding
from januscxr.records import finding_record, probability_texts
from januscxr.types import FindingResult


@pytest.mark.parametrize(
    ("probability", "threshold", "texts"),
    [
        (0.0499, 0.05, ("0.0499", "0.0500")),  # not flagged: must not print as 0.05 against 0.05
        (0.05, 0.05, ("0.0500", "0.0500")),  # equal: flagged, and prints equal
        (0.050004, 0.05, ("0.050004", "0.050000")),
        (0.6305188622528762, 0.6305188622528762, ("0.631", "0.631")),
        (0.0500, 0.049991757047737194, ("0.05000", "0.04999")),
        (0.9731, 0.631, ("0.973", "0.631")),
        (0.000003, 0.05, ("0.00000", "0.05000")),
    ],
)
def test_printed_order_matches_the_flag(probability, threshold, texts):
    assert probability_texts(probability, threshold) == texts
    p, t = (float(x) for x in texts)
    assert (p >= t) is (probability >= threshold)


def test_random_pairs_never_print_a_wrong_order():
    import numpy as np

    rng = np.random.default_rng(0)
    for probability, threshold in (rng.random((2000, 2)) ** 3).tolist():
        near = threshold + rng.choice([-1, 1]) * 10.0 ** -rng.integers(3, 9)
        for t in (threshold, float(np.clip(near, 0, 1))):
            p_text, t_text, u_text = probability_texts(probability, t, 0.9)
            assert (float(p_text) >= float(t_text)) is (probability >= t), (probability, t, p_text, t_text)
            assert (float(p_text) >= float(u_text)) is (probability >= 0.9)


def test_record_has_both_points():
    record = finding_record(FindingResult(Finding.PNEUMOTHORAX, 0.8, 0.3, urgent_threshold=0.712345678))
    assert record["urgent_threshold"] == 0.712346 and record["urgent"] and record["critical"]
    unreliable = finding_record(FindingResult(Finding.PNEUMOTHORAX, 0.8, 0.3))
    assert unreliable["urgent_threshold"] is None and not unreliable["urgent"] and not unreliable["critical"]
