"""The study page's findings table prints p and threshold with the digits that decide the flag."""

from __future__ import annotations

from januscxr.server.schemas import FindingPublic


def test_texts_differ_when_the_numbers_do():
    record = {"finding": "Cardiomegaly", "probability": 0.0499, "threshold": 0.05, "flagged": False}
    public = FindingPublic(**record, uncertain=False, critical=False, laterality=None, urgent=False)
    assert (public.probability_text, public.threshold_text) == ("0.0499", "0.0500")
    assert public.model_dump()["threshold_text"] == "0.0500"


def test_the_urgency_point_is_explained_and_unreliable_points_never_raise_urgency():
    record = {"finding": "Pneumothorax", "probability": 0.92, "threshold": 0.3, "flagged": True}
    urgent = FindingPublic(**record, uncertain=False, critical=True, laterality=None, urgent_threshold=0.9, urgent=True)
    assert urgent.urgency_text == "urgent at p >= 0.900; p = 0.920"
    unreliable = FindingPublic(**record, uncertain=False, critical=False, laterality=None, urgent_threshold=None)
    assert not unreliable.urgent and unreliable.urgency_text.startswith("never raises urgency")


def test_the_study_page_marks_urgent_findings(login, room):
    from tests.server.conftest import dicom_bytes, upload_and_read

    reader = login("rad")
    (outcome,) = upload_and_read(reader, room, ("a.dcm", dicom_bytes()))
    page = reader.client.get(f"/studies/{outcome['study_id']}").text
    # the fake classifier's pneumothorax (p 0.92) passes its urgent threshold (0.9): urgent and critical
    assert '<span class="badge critical">urgent</span>' in page
    assert 'title="urgent at p &gt;= 0.900; p = 0.920"' in page
