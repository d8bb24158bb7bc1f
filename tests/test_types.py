"""FindingResult's two operating points: flagged, urgent, critical and the "possible" band."""

from __future__ import annotations

import pytest

from januscxr.labels import Finding
from januscxr.report.compose import Certainty, certainty
from januscxr.types import FindingResult


@pytest.mark.parametrize(
    ("probability", "flagged", "urgent", "uncertain"),
    [
        (0.10, False, False, False),  # under the sensitive point: not in the draft
        (0.20, True, False, True),  # flagged, under 0.5: possible
        (0.60, True, False, True),  # flagged, over 0.5 but under the specific point: possible
        (0.70, True, True, False),  # at the specific point: urgent, present
        (0.95, True, True, False),
    ],
)
def test_bands_between_the_two_points(probability, flagged, urgent, uncertain):
    result = FindingResult(Finding.PNEUMOTHORAX, probability, 0.2, urgent_threshold=0.7)
    assert (result.flagged, result.urgent, result.uncertain) == (flagged, urgent, uncertain)
    assert result.critical is urgent  # pneumothorax is a critical finding
    expected = Certainty.ABSENT if not flagged else (Certainty.POSSIBLE if uncertain else Certainty.PRESENT)
    assert certainty(result) is expected


def test_without_a_specific_point_never_urgent_and_the_band_is_half():
    """The default (no reliable specific point): drafted as before, never raises urgency."""
    for probability in (0.3, 0.49, 0.5, 0.99, 1.0):
        result = FindingResult(Finding.PNEUMOTHORAX, probability, 0.3)
        assert result.flagged and not result.urgent and not result.critical
        assert result.uncertain is (probability < 0.5)


def test_critical_needs_a_critical_finding():
    assert FindingResult(Finding.PNEUMOTHORAX, 0.9, 0.3, urgent_threshold=0.8).critical
    opacity = FindingResult(Finding.LUNG_OPACITY, 0.9, 0.3, urgent_threshold=0.8)
    assert opacity.urgent and not opacity.critical


def test_urgent_implies_flagged_even_under_a_lower_specific_point():
    result = FindingResult(Finding.PNEUMONIA, 0.4, 0.6, urgent_threshold=0.3)
    assert not result.flagged and not result.urgent and not result.critical
