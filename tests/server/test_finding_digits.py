"""The study page's findings table prints p and threshold with the digits that decide the flag."""

from __future__ import annotations

from januscxr.server.schemas import FindingPublic


def test_texts_differ_when_the_numbers_do():
    record = {"finding": "Cardiomegaly", "probability": 0.0499, "threshold": 0.05, "flagged": False}
    public = FindingPublic(**record, uncertain=False, critical=False, laterality=None, urgent=False)
    assert (public.probability_text, public.threshold_text) == ("0.0499", "0.0500")
    assert public.model_dump()["threshold_text"] == "0.0500"
