"""Issue 11, item 5: the reading room shows consistency.find_discordances, stored and recomputed on save."""

from __future__ import annotations

from sqlalchemy import select

from januscxr.consistency import find_discordances
from januscxr.records import discordance_record, finding_results
from januscxr.server.deps import ReadingRoom
from januscxr.storage.tables import AiResult
from januscxr.types import DraftReport
from tests.server.conftest import dicom_bytes, upload_and_read


def _stored(room: ReadingRoom) -> AiResult:
    with room.db.read() as session:
        result = session.scalars(select(AiResult)).one()
        session.expunge(result)
    return result


def test_the_worker_stores_the_drafts_discordances_and_the_page_shows_them(login, room: ReadingRoom) -> None:
    rad = login("rad")
    (outcome,) = upload_and_read(rad, room, ("a.dcm", dicom_bytes()))
    result = _stored(room)
    draft = DraftReport(result.draft_findings, result.draft_impression, result.reporter)
    expected = [discordance_record(d) for d in find_discordances(draft, finding_results(result.findings))]
    assert result.discordances == expected
    study = rad.client.get(f"/api/studies/{outcome['study_id']}").json()
    assert study["report"]["discordances"] == expected
    discordant = {f["finding"] for f in study["ai_results"][0]["findings"] if f["discordant"]}
    assert discordant == {d["finding"] for d in expected}


def test_a_save_answers_with_the_discordances_of_the_saved_text(login, room: ReadingRoom) -> None:
    rad = login("rad")
    (outcome,) = upload_and_read(rad, room, ("a.dcm", dicom_bytes()))
    url = f"/api/studies/{outcome['study_id']}/report"
    body = {"revision": 1, "findings": "No pneumothorax. No pleural effusion.", "impression": "Normal chest."}
    saved = rad.write("PUT", url, json=body).json()  # type: ignore[attr-defined]
    result = _stored(room)
    flagged = {r["finding"] for r in result.findings if r["flagged"]}
    assert flagged == {"Pneumothorax", "Pleural Effusion"}
    kinds = {d["finding"]: d["kind"] for d in saved["discordances"]}
    assert kinds == {"Pneumothorax": "report_denies", "Pleural Effusion": "report_denies"}
    report = DraftReport(body["findings"], body["impression"], "x")
    expected = [discordance_record(d) for d in find_discordances(report, finding_results(result.findings))]
    assert saved["discordances"] == expected  # the one rule, not a second one
    body = {"revision": saved["revision"], "findings": "Right pneumothorax. Pleural effusion.", "impression": "."}
    agreed = rad.write("PUT", url, json=body).json()  # type: ignore[attr-defined]
    assert agreed["discordances"] == []
    assert rad.client.get(f"/api/studies/{outcome['study_id']}").json()["report"]["discordances"] == []


def test_rounding_at_the_threshold_keeps_the_stored_flag() -> None:
    records = [
        {"finding": "Edema", "probability": 0.5, "threshold": 0.5, "flagged": False},
        {"finding": "Pneumothorax", "probability": 0.3, "threshold": 0.300001, "flagged": True},
    ]
    results = finding_results(records)
    assert [r.flagged for r in results.values()] == [False, True]
