"""Issue 13, item 6: the worklist shows where a study came from and how long its AI draft took;
the study page lists the same patient's earlier studies with their final reports."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydicom.uid import DigitalXRayImageStorageForPresentation

from januscxr.server import create_app
from januscxr.server.deps import ReadingRoom
from januscxr.server.reading import study_time
from januscxr.server.worklist_view import ready_label, source_label
from januscxr.storage import reports, studies
from januscxr.storage.tables import Study, User
from tests.conftest import cr_dataset
from tests.pacs.conftest import association, free_port, status_of
from tests.server.conftest import PASSWORD, add_users, dicom_bytes, make_settings, png_bytes, upload_and_read
from tests.server.seeding import seed_studies

ROW = re.compile(r'<tr class="[^"]*" data-study-id="(\d+)">(.*?)</tr>', re.S)


def _cells(page: str) -> dict[int, str]:
    return {int(study_id): row for study_id, row in ROW.findall(page)}


def _ready_cell(row: str) -> str:
    found = re.search(r'<td class="ready">(.*?)</td>', row)
    assert found is not None, row
    return found.group(1)


def test_an_upload_records_its_source_study_time_and_ready_time(login, room: ReadingRoom) -> None:
    rad = login("rad")
    dicom = dicom_bytes(StudyDate="20250312", StudyTime="140512.5", AccessionNumber="ACC-T1")
    outcomes = upload_and_read(rad, room, ("a.dcm", dicom), ("b.png", png_bytes(1)))
    by_id = {item["study_id"]: item for item in rad.client.get("/api/worklist").json()}
    assert {by_id[o["study_id"]]["source"] for o in outcomes} == {"upload"}  # type: ignore[index]
    dicom_item = by_id[outcomes[0]["study_id"]]
    assert dicom_item["study_time"] == "14:05:12"
    with room.db.read() as session:
        study = session.get_one(Study, outcomes[0]["study_id"])
        assert study.study_time == "140512.5" and study.source == "upload" and study.ai_ready_at is not None
        expected = (_utc(study.ai_ready_at) - _utc(study.received_at)).total_seconds()
    assert dicom_item["ready_s"] == pytest.approx(expected, abs=0.1) and dicom_item["ready_s"] >= 0
    row = _cells(rad.client.get("/worklist").text)[dicom_item["study_id"]]
    assert "2025-03-12 14:05:12" in row and '<td class="source">Upload</td>' in row
    assert _ready_cell(row) == ready_label(dicom_item["ready_s"]) != "—"


def test_a_pending_study_has_no_ready_time(login, room: ReadingRoom) -> None:
    with room.db.write() as session:
        study, _ = studies.add_study(session, studies.StudyAttributes(study_instance_uid="1.7", source="watch"))
    rad = login("rad")
    [item] = rad.client.get("/api/worklist").json()
    assert (item["source"], item["ready_s"], item["ai_status"]) == ("watch", None, "pending")
    page = rad.client.get("/worklist").text
    row = _cells(page)[study.id]
    assert _ready_cell(row) == "—" and '<td class="source">Watched folder</td>' in row
    assert ">Ready in</th>" in page and ">Source</th>" in page


def test_labels() -> None:
    assert [study_time(v) for v in ("140512.123", "1405", "14", "", None, "1.5")] == [
        "14:05:12",
        "14:05",
        "14:00",
        None,
        None,
        "1.5",
    ]
    assert [source_label(s) for s in ("upload", "watch", "dicom:PACS1", "dicomweb:orthanc", None, "<x>")] == [
        "Upload",
        "Watched folder",
        "DICOM from PACS1",
        "DICOMweb from orthanc",
        "—",
        "<x>",
    ]
    assert [ready_label(s) for s in (None, 4.4, 59.6, 90.0, 7200.0)] == ["—", "4 s", "60 s", "1.5 min", "2.0 h"]


@pytest.fixture
def listening(tmp_path: Path) -> Iterator[tuple[TestClient, ReadingRoom, int]]:
    port = free_port()
    app = create_app(make_settings(tmp_path, dicom_port=port, dicom_allowed_callers=["MODALITY"]))
    add_users(app.state.room)
    with TestClient(app) as client:  # the lifespan starts (and stops) the listener
        assert client.post("/api/session", json={"username": "rad", "password": PASSWORD}).status_code == 200
        yield client, app.state.room, port


def test_a_dicom_instance_records_the_calling_ae_title(listening: tuple[TestClient, ReadingRoom, int]) -> None:
    client, room, port = listening
    with association(port, DigitalXRayImageStorageForPresentation, calling="MODALITY") as assoc:
        assert assoc.is_established
        assert status_of(assoc.send_c_store(cr_dataset(AccessionNumber="ACC-AE", StudyTime="0930"))) == 0x0000
    room.pool.wait_idle()
    [item] = client.get("/api/worklist").json()
    assert (item["source"], item["study_time"], item["ai_status"]) == ("dicom:MODALITY", "09:30", "done")
    assert item["ready_s"] is not None
    assert '<td class="source">DICOM from MODALITY</td>' in client.get("/worklist").text


def test_the_standard_arm_shows_no_ai_timing(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path, study_mode=True, study_seed="timing"))
    add_users(app.state.room)
    seed_studies(app.state.room, 12)
    client = TestClient(app)
    assert client.post("/api/session", json={"username": "rad", "password": PASSWORD}).status_code == 200
    items = client.get("/api/worklist").json()
    arms = {item["study_id"]: client.get(f"/api/studies/{item['study_id']}").json()["arm"] for item in items}
    assert set(arms.values()) == {"standard", "ai_assisted"}
    rows = _cells(client.get("/worklist").text)
    for item in items:
        standard = arms[item["study_id"]] == "standard"
        assert (item["ready_s"] is None) is standard
        assert (_ready_cell(rows[item["study_id"]]) == "—") is standard


def _app_with_history(tmp_path: Path) -> tuple[FastAPI, dict[str, int]]:
    app = create_app(make_settings(tmp_path))
    add_users(app.state.room)
    room: ReadingRoom = app.state.room
    now = datetime.now(UTC)
    ids: dict[str, int] = {}
    with room.db.write() as session:
        rad = session.query(User).filter_by(username="rad").one()
        for key, pid, days, description, impression in [
            ("current", "MRN-1", 0, "CHEST PA", None),
            ("old", "MRN-1", 400, "CHEST AP", "No <b>acute</b> disease."),
            ("recent", "MRN-1", 30, "THORAX", None),
            ("other", "MRN-2", 10, "OTHER PATIENT", "Other patient's impression."),
            ("blank", None, 0, "NO ID", None),
            ("blank_old", None, 50, "NO ID OLD", "Unrelated."),
        ]:
            attributes = studies.StudyAttributes(
                study_instance_uid=f"1.8.{key}", patient_id=pid, study_description=description, study_date="20240101"
            )
            study, _ = studies.add_study(session, attributes)
            study.received_at = now - timedelta(days=days)
            ids[key] = study.id
            if impression is not None:
                report = reports.ensure_report(session, study)
                text = reports.ReportText("Findings.", impression)
                reports.sign_report(session, report.id, revision=report.revision, text=text, user=rad)
    return app, ids


def test_the_study_page_lists_the_patients_earlier_studies(tmp_path: Path) -> None:
    app, ids = _app_with_history(tmp_path)
    with TestClient(app) as client:
        assert client.post("/api/session", json={"username": "rad", "password": PASSWORD}).status_code == 200
        body = client.get(f"/api/studies/{ids['current']}").json()
        earlier = body["earlier_studies"]
        assert [e["study_id"] for e in earlier] == [ids["recent"], ids["old"]]
        assert [e["impression"] for e in earlier] == [None, "No <b>acute</b> disease."]
        assert [e["report_status"] for e in earlier] == ["draft", "signed"]
        page = client.get(f"/studies/{ids['current']}").text
        assert "Earlier studies of this patient" in page
        assert f'href="/studies/{ids["old"]}"' in page and f'href="/studies/{ids["recent"]}"' in page
        assert "No &lt;b&gt;acute&lt;/b&gt; disease." in page and "<b>acute</b>" not in page
        assert "OTHER PATIENT" not in page and "Other patient" not in page
        blank = client.get(f"/studies/{ids['blank']}").text
        assert "Earlier studies of this patient" not in blank and "Unrelated." not in blank
        assert client.get(f"/api/studies/{ids['blank']}").json()["earlier_studies"] == []


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
