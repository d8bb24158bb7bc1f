"""Study mode: cases randomised to arms, no AI output in the standard arm, the reads CSV export."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from januscxr.eval.reads import ALL_COLUMNS, Arm, read_reads
from januscxr.server import create_app
from januscxr.server.deps import Principal
from januscxr.server.reading import arm_of
from januscxr.storage.tables import ReadingSession, Study, User
from tests.server.conftest import (
    PASSWORD,
    Reader,
    add_users,
    dicom_bytes,
    make_settings,
    png_bytes,
    upload_and_read,
)
from tests.server.seeding import seed_studies


@pytest.fixture
def app(tmp_path: Path) -> Iterator[FastAPI]:
    app = create_app(make_settings(tmp_path, study_mode=True, study_seed="trial-1"))
    add_users(app.state.room)
    yield app


def test_arms_are_a_reproducible_fair_coin_per_reader_and_case(room, login) -> None:
    rad, rad2 = login("rad"), login("rad2")
    uids = [f"1.2.3.{i}" for i in range(400)]
    arms = [arm_of(room, _principal(rad), uid) for uid in uids]
    assert 150 < arms.count("standard") < 250
    assert arms == [arm_of(room, _principal(rad), uid) for uid in uids]
    other = [arm_of(room, _principal(rad2), uid) for uid in uids]
    assert 0 < sum(a != b for a, b in zip(arms, other, strict=True)) < 400


def _principal(reader) -> Principal:  # type: ignore[no-untyped-def]
    me = reader.client.get("/api/me").json()
    user = SimpleNamespace(username=me["username"], role=me["role"], id=0)
    return Principal(user=user, csrf_token="")  # type: ignore[arg-type]


def test_standard_arm_sees_no_ai_output(login, room) -> None:
    rad = login("rad")
    # Fixed Study Instance UIDs, chosen so that both arms occur: random ones put all 8 in one arm 1 time in 128.
    uids = [f"1.2.826.0.1.3680043.10.543.{i}" for i in range(8)]
    assert {arm_of(room, _principal(rad), uid) for uid in uids} == {"ai_assisted", "standard"}
    files = [(f"{i}.dcm", dicom_bytes(StudyInstanceUID=uid)) for i, uid in enumerate(uids)]
    outcomes = upload_and_read(rad, room, *files)
    studies = {o["study_id"]: rad.client.get(f"/api/studies/{o['study_id']}").json() for o in outcomes}
    assert {s["arm"] for s in studies.values()} == {"ai_assisted", "standard"}
    worklist = {i["study_id"]: i for i in rad.client.get("/api/worklist").json()}
    for study_id, study in studies.items():
        if study["arm"] == "standard":
            assert study["ai_results"] == [] and not study["ai_visible"] and study["ai_status"] == "hidden"
            assert study["report"]["findings"] == "" and study["report"]["impression"] == ""
            assert worklist[study_id]["priority"] == "hidden" and worklist[study_id]["flagged_findings"] == []
            page = rad.client.get(f"/studies/{study_id}").text
            assert "Standard arm: no AI output" in page and "heatmap-toggle" not in page
            assert rad.client.get(f"/api/ai-results/{study_id}/heatmaps/pneumothorax.png").status_code == 404
        else:
            assert study["ai_results"] and "pneumothorax" in study["report"]["findings"].lower()
            assert rad.client.get(study["ai_results"][0]["findings"][0]["heatmap_url"]).status_code == 200


def test_every_reader_reads_every_case_and_the_export_feeds_the_toolkit(login, room, tmp_path: Path) -> None:
    rad, rad2, admin = login("rad"), login("rad2"), login("admin")
    outcomes = upload_and_read(rad, room, *[(f"{i}.png", png_bytes(i)) for i in range(4)])
    for reader, seconds in ((rad, 42), (rad2, 30)):
        for o in outcomes:
            study_id = o["study_id"]
            report = reader.client.get(f"/api/studies/{study_id}").json()["report"]
            assert report["status"] == "draft"  # each reader's own report of the case
            reader.write("POST", f"/api/studies/{study_id}/activity", json={"active_ms": seconds * 1000})
            body = {"revision": report["revision"], "findings": "Clear lungs.", "impression": "Normal."}
            assert reader.write("POST", f"/api/studies/{study_id}/report/sign", json=body).status_code == 200
        assert reader.client.get("/api/worklist").json() == []  # signed cases leave the reader's worklist
    reads = admin.client.get("/api/study-mode/reads").json()
    assert len(reads) == 8 and {r["reader_id"] for r in reads} == {"rad", "rad2"}
    blank = admin.client.get("/api/study-mode/reads.csv")
    assert blank.status_code == 200 and blank.text.splitlines()[0] == ",".join(ALL_COLUMNS)
    for read in reads:
        scores = {"quality_score": 4, "agreement_score": 4.5}
        assert admin.write("PUT", f"/api/study-mode/reads/{read['reading_id']}/scores", json=scores).status_code == 204
    for o in outcomes:
        reference = {"expert_preference": "no_preference", "n_findings": 1}
        url = f"/api/study-mode/cases/{o['study_id']}/reference"
        assert admin.write("PUT", url, json=reference).status_code == 204
    path = tmp_path / "reads.csv"
    path.write_text(admin.client.get("/api/study-mode/reads.csv").text, encoding="utf-8")
    table = read_reads(path)
    assert len(table.reads) == 8 and {r.arm for r in table.reads} <= {Arm.AI_ASSISTED, Arm.STANDARD}
    assert sorted({(r.reader_id, r.reading_time_s) for r in table.reads}) == [("rad", 42.0), ("rad2", 30.0)]
    assert rad.client.get("/api/study-mode/reads.csv").status_code == 403
    assert "reads.csv" in admin.client.get("/admin").text
    assert admin.client.get(f"/api/studies/{outcomes[0]['study_id']}/report").json()["status"] == "draft"


def _app(tmp_path: Path, *, study_mode: bool) -> FastAPI:
    """A reading room over ``tmp_path``'s data folder: the same database each time, study mode as given."""
    return create_app(make_settings(tmp_path, study_mode=study_mode, study_seed="trial-1"))


def _logged_in(client: TestClient, username: str) -> Reader:
    response = client.post("/api/session", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return Reader(client, response.json()["csrf_token"])


def _read(reader: Reader, study_id: int, *, seconds: int, sign: bool = True) -> dict[str, object]:
    """Open the study, report active time, sign the report this reader works on."""
    study = reader.client.get(f"/api/studies/{study_id}").json()
    reader.write("POST", f"/api/studies/{study_id}/activity", json={"active_ms": seconds * 1000})
    if sign:
        body = {"revision": study["report"]["revision"], "findings": "Clear lungs.", "impression": "Normal."}
        response = reader.write("POST", f"/api/studies/{study_id}/report/sign", json=body)
        assert response.status_code == 200, response.text  # type: ignore[attr-defined]
    return study  # type: ignore[no-any-return]


def test_switching_study_mode_never_reuses_a_reading_session_and_every_read_is_exported(tmp_path: Path) -> None:
    """Issue 11, item 6: reads of cases opened before study mode was switched on were left out (3 of 8)."""
    clinical = _app(tmp_path, study_mode=False)
    add_users(clinical.state.room)
    study_ids = seed_studies(clinical.state.room, 4)
    with TestClient(clinical) as a, TestClient(clinical) as b:
        rad, rad2 = _logged_in(a, "rad"), _logged_in(b, "rad2")
        for study_id in study_ids:
            _read(rad, study_id, seconds=5, sign=study_id in study_ids[:2])  # clinical reads, two signed
        for study_id in study_ids[:2]:
            _read(rad2, study_id, seconds=5, sign=False)
    trial = _app(tmp_path, study_mode=True)
    with TestClient(trial) as a, TestClient(trial) as b, TestClient(trial) as c:
        rad, rad2, admin = _logged_in(a, "rad"), _logged_in(b, "rad2"), _logged_in(c, "admin")
        for reader, seconds in ((rad, 42), (rad2, 30)):
            for study_id in study_ids:
                opened = _read(reader, study_id, seconds=seconds)
                assert opened["active_s"] == 0.0 and opened["arm"] in {"ai_assisted", "standard"}  # a new session
        export = admin.client.get("/api/study-mode/reads.csv")
        assert export.status_code == 200, export.text
        rows = list(csv.DictReader(io.StringIO(export.text)))  # panel scores blank until entered
        times = sorted((r["reader_id"], r["reading_time_s"]) for r in rows)
        assert times == [("rad", "42.0")] * 4 + [("rad2", "30.0")] * 4
        assert {r["arm"] for r in rows} == {"ai_assisted", "standard"}
        admin_page = admin.client.get("/admin").text
        assert admin_page.count('class="in-export"') == 8 and 'class="left-out"' not in admin_page
        assert 'id="reads-csv"' in admin_page
    back = _app(tmp_path, study_mode=False)
    with TestClient(back) as a, TestClient(back) as c:
        rad, admin = _logged_in(a, "rad"), _logged_in(c, "admin")
        assert _read(rad, study_ids[2], seconds=7)["active_s"] == 5.0  # the clinical session, not the trial's
        export = admin.client.get("/api/study-mode/reads.csv")
        assert export.status_code == 200 and export.text.count("\n") == 9
        assert [line.split(",")[3] for line in export.text.splitlines()[1:]].count("42.0") == 4


def test_the_export_refuses_naming_every_signed_read_it_would_leave_out(login, room) -> None:
    """A signed study-mode report without a study-mode session (as the old code left them) blocks the export."""
    rad, rad2, admin = login("rad"), login("rad2"), login("admin")
    study_ids = seed_studies(room, 2)
    for reader in (rad, rad2):
        for study_id in study_ids:
            _read(reader, study_id, seconds=20)
    with room.db.write() as session:  # what migration 0003 made of a read whose clinical session was reused
        user_id = session.scalar(select(User.id).where(User.username == "rad2"))
        legacy = ReadingSession.user_id == user_id, ReadingSession.study_id == study_ids[1]
        session.execute(update(ReadingSession).where(*legacy).values(study_mode=False, arm=None))
        uid = session.get(Study, study_ids[1]).study_instance_uid  # type: ignore[union-attr]
    response = admin.client.get("/api/study-mode/reads.csv")
    assert response.status_code == 409 and response.json()["error"] == "ConflictError"
    message = response.json()["message"]
    assert "leave out 1 signed study-mode read(s)" in message and "\n" not in message
    assert f"rad2 on case {uid}: no study-mode reading session" in message
    page = admin.client.get("/admin").text
    assert page.count('class="in-export"') == 3 and page.count('class="left-out"') == 1
    assert 'id="export-refused"' in page and 'id="reads-csv"' not in page
    assert "no: no study-mode reading session" in page
    exports = admin.client.get("/api/audit", params={"action": "export_reads"}).json()
    assert exports == []  # a refused export is not recorded as an export
