"""Study mode: cases randomised to arms, no AI output in the standard arm, the reads CSV export."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from fastapi import FastAPI

from januscxr.eval.reads import ALL_COLUMNS, Arm, read_reads
from januscxr.server import create_app
from januscxr.server.deps import Principal
from januscxr.server.reading import arm_of
from tests.server.conftest import add_users, make_settings, png_bytes, upload_and_read


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
    outcomes = upload_and_read(rad, room, *[(f"{i}.png", png_bytes(i)) for i in range(8)])
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
