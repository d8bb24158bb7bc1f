"""Issue 11, item 6: the expert panel's scores entered on a page (plain forms), audited, in the export."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI

from januscxr.eval.reads import read_reads
from januscxr.server import create_app
from tests.server.conftest import Reader, add_users, make_settings
from tests.server.seeding import seed_studies


@pytest.fixture
def app(tmp_path: Path) -> Iterator[FastAPI]:
    app = create_app(make_settings(tmp_path, study_mode=True, study_seed="trial-1"))
    add_users(app.state.room)
    yield app


def _signed_reads(room, *readers: Reader, n: int = 2) -> list[int]:  # type: ignore[no-untyped-def]
    study_ids = seed_studies(room, n)
    for reader in readers:
        for study_id in study_ids:
            report = reader.client.get(f"/api/studies/{study_id}").json()["report"]
            reader.write("POST", f"/api/studies/{study_id}/activity", json={"active_ms": 12_000})
            body = {"revision": report["revision"], "findings": "Clear lungs.", "impression": "Normal."}
            assert reader.write("POST", f"/api/studies/{study_id}/report/sign", json=body).status_code == 200
    return study_ids


def _form(admin: Reader, url: str, **fields: str) -> object:
    """Submit a page form as the browser does: urlencoded, the CSRF token as a field, no redirects followed."""
    data = {"csrf_token": admin.csrf, **fields}
    return admin.client.post(url, data=data, follow_redirects=False)


def test_scores_entered_on_the_page_are_audited_and_exported(login, room, tmp_path: Path) -> None:
    rad, rad2, admin = login("rad"), login("rad2"), login("admin")
    study_ids = _signed_reads(room, rad, rad2)
    page = admin.client.get("/study-mode/scores")
    assert page.status_code == 200
    reading_ids = sorted(int(i) for i in re.findall(r'action="/study-mode/reads/(\d+)/scores"', page.text))
    assert len(reading_ids) == 4 and page.text.count(f'value="{admin.csrf}"') >= 4 + 2
    for number, reading_id in enumerate(reading_ids):
        url = f"/study-mode/reads/{reading_id}/scores"
        response = _form(admin, url, quality_score=str(number % 5 + 1), agreement_score=" 3.5 ")
        assert response.status_code == 303 and response.headers["location"].endswith(f"#read-{reading_id}")  # type: ignore[attr-defined]
    for study_id, preference in zip(study_ids, ("ai_assisted", "no_preference"), strict=True):
        url = f"/study-mode/cases/{study_id}/reference"
        response = _form(admin, url, expert_preference=preference, n_findings="2")
        assert response.status_code == 303  # type: ignore[attr-defined]
    shown = admin.client.get(f"/study-mode/scores?saved=case-{study_ids[0]}").text
    assert f"Saved case {study_ids[0]}." in shown and '<option value="ai_assisted" selected>' in shown
    export = admin.client.get("/api/study-mode/reads.csv")
    assert export.status_code == 200
    (tmp_path / "reads.csv").write_text(export.text, encoding="utf-8")
    table = read_reads(tmp_path / "reads.csv")  # complete: the toolkit accepts it
    assert sorted(r.quality_score for r in table.reads) == [1, 2, 3, 4]
    assert {r.agreement_score for r in table.reads} == {3.5} and {r.n_findings for r in table.reads} == {2}
    assert sorted(r.expert_preference.value for r in table.reads) == ["ai_assisted"] * 2 + ["no_preference"] * 2
    events = admin.client.get("/api/audit", params={"action": "score_read"}).json()
    assert sorted(e["detail"]["reading_id"] for e in events) == reading_ids
    assert {e["username"] for e in events} == {"admin"} and events[0]["detail"]["agreement_score"] == 3.5
    cases = admin.client.get("/api/audit", params={"action": "score_case"}).json()
    assert sorted(e["study_id"] for e in cases) == sorted(study_ids)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"quality_score": "7", "agreement_score": "4"}, "quality_score received '7'; expected an integer from 1"),
        ({"quality_score": "", "agreement_score": "4"}, "quality_score received ''; expected an integer from 1"),
        ({"quality_score": "3", "agreement_score": "nan"}, "agreement_score received 'nan'; expected a finite number"),
        ({"quality_score": "3", "agreement_score": "lots"}, "agreement_score received 'lots'; expected a finite"),
    ],
)
def test_invalid_read_scores_get_a_one_line_error_and_change_nothing(login, room, fields, expected) -> None:  # type: ignore[no-untyped-def]
    rad, admin = login("rad"), login("admin")
    _signed_reads(room, rad, n=1)
    (reading_id,) = admin.client.get("/api/study-mode/reads").json()
    response = _form(admin, f"/study-mode/reads/{reading_id['reading_id']}/scores", **fields)
    assert response.status_code == 422  # type: ignore[attr-defined]
    (error,) = re.findall(r'<p class="error" id="score-error" role="alert">([^<]*)</p>', response.text)  # type: ignore[attr-defined]
    assert error.startswith(f"read {reading_id['reading_id']}: ") and expected in error.replace("&#39;", "'")
    assert admin.client.get("/api/study-mode/reads").json()[0]["quality_score"] is None
    assert admin.client.get("/api/audit", params={"action": "score_read"}).json() == []


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"expert_preference": "maybe", "n_findings": "1"}, "expert_preference received 'maybe'; expected ai_assisted"),
        ({"expert_preference": "standard", "n_findings": "-1"}, "n_findings received '-1'; expected an integer"),
        ({"expert_preference": "standard", "n_findings": "1.5"}, "n_findings received '1.5'; expected an integer"),
    ],
)
def test_invalid_case_references_get_a_one_line_error(login, room, fields, expected) -> None:  # type: ignore[no-untyped-def]
    rad, admin = login("rad"), login("admin")
    (study_id,) = _signed_reads(room, rad, n=1)
    response = _form(admin, f"/study-mode/cases/{study_id}/reference", **fields)
    assert response.status_code == 422  # type: ignore[attr-defined]
    assert expected in response.text.replace("&#39;", "'")  # type: ignore[attr-defined]


def test_only_admins_with_the_csrf_token_score(login, room) -> None:
    rad, admin = login("rad"), login("admin")
    _signed_reads(room, rad, n=1)
    (read,) = admin.client.get("/api/study-mode/reads").json()
    url = f"/study-mode/reads/{read['reading_id']}/scores"
    assert rad.client.get("/study-mode/scores").status_code == 403
    assert _form(rad, url, quality_score="5", agreement_score="5").status_code == 403  # type: ignore[attr-defined]
    forged = admin.client.post(url, data={"quality_score": "5", "agreement_score": "5"}, follow_redirects=False)
    assert forged.status_code == 403
    assert admin.client.get("/api/study-mode/reads").json()[0]["quality_score"] is None
    assert admin.client.get("/study-mode/scores?saved=<b>x</b>").status_code == 422  # no message but ours


def test_unknown_reads_and_cases_are_404_on_the_page_too(login, room) -> None:
    rad, admin = login("rad"), login("admin")
    _signed_reads(room, rad, n=1)
    response = _form(admin, "/study-mode/reads/999999/scores", quality_score="3", agreement_score="3")
    assert response.status_code == 404 and "no study-mode read with id 999999" in response.text  # type: ignore[attr-defined]
    response = _form(admin, "/study-mode/cases/999999/reference", expert_preference="standard", n_findings="1")
    assert response.status_code == 404  # type: ignore[attr-defined]
