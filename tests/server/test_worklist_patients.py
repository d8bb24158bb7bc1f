"""Issue 11, item 7: patients and studies are identifiable on the worklist, the study page and the print."""

from __future__ import annotations

import pytest

from januscxr.server.deps import ReadingRoom
from januscxr.server.headers import person_name, study_date
from januscxr.storage import studies
from tests.server.conftest import dicom_bytes, png_bytes, upload_and_read

PATIENTS = [
    # name, id, accession, sex, age, date, description
    ("DOE^JANE", "MRN-1", "ACC-100", "F", 71.0, "20250312", "CHEST PA"),
    ("ROE^RICHARD^J", "MRN-2", "ACC-200", "M", 62.0, "20250311", "CHEST AP"),
    ("O'BRIEN^50%_OFF", "MRN-3", "ACC-300", "M", 35.0, "20240101", "THORAX"),
]


@pytest.fixture
def patients(room: ReadingRoom) -> dict[str, int]:
    ids = {}
    with room.db.write() as session:
        for n, (name, pid, acc, sex, age, when, description) in enumerate(PATIENTS):
            attributes = studies.StudyAttributes(
                study_instance_uid=f"1.2.3.4.{n}",
                patient_name=name,
                patient_id=pid,
                accession_number=acc,
                patient_sex=sex,
                patient_age_years=age,
                study_date=when,
                study_description=description,
            )
            study, _ = studies.add_study(session, attributes)
            ids[pid] = study.id
    return ids


def _ids(reader, query: str) -> list[str]:  # type: ignore[no-untyped-def]
    response = reader.client.get(f"/api/worklist{query}")
    assert response.status_code == 200, response.text
    return [item["patient_id"] for item in response.json()]


def test_search_finds_every_word_in_name_id_or_accession(login, patients) -> None:
    rad = login("rad")
    assert _ids(rad, "?search=doe") == ["MRN-1"]
    assert _ids(rad, "?search=JANE%20doe") == ["MRN-1"]  # any order, any case
    assert _ids(rad, "?search=mrn-2") == ["MRN-2"]
    assert _ids(rad, "?search=acc-3") == ["MRN-3"]
    assert sorted(_ids(rad, "?search=%20%20")) == ["MRN-1", "MRN-2", "MRN-3"]  # no word: no filter


def test_search_text_is_data_never_sql_or_a_wildcard(login, patients) -> None:
    rad = login("rad")
    assert _ids(rad, "?search=%25") == ["MRN-3"]  # "%": a literal percent sign, not "anything"
    assert _ids(rad, "?search=50%25_") == ["MRN-3"]
    assert _ids(rad, "?search=_") == ["MRN-3"]
    assert _ids(rad, "?search=%27%20OR%201%3D1%20--") == []  # ' OR 1=1 --
    assert _ids(rad, "?search=o%27brien") == ["MRN-3"]
    assert rad.client.get("/api/worklist?search=" + "x" * 65).status_code == 422
    page = rad.client.get("/worklist?search=%3Cscript%3Ealert(1)%3C/script%3E").text
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("patient_name", ["MRN-1", "MRN-3", "MRN-2"]),
        ("patient_name&order=desc", ["MRN-2", "MRN-3", "MRN-1"]),
        ("study_date", ["MRN-3", "MRN-2", "MRN-1"]),
        ("patient_age&order=desc", ["MRN-1", "MRN-2", "MRN-3"]),
        ("accession&order=desc", ["MRN-3", "MRN-2", "MRN-1"]),
        ("description", ["MRN-2", "MRN-1", "MRN-3"]),
    ],
)
def test_sort_by_a_column(login, patients, sort: str, expected: list[str]) -> None:
    assert _ids(login("rad"), f"?sort={sort}") == expected


def test_sort_keys_are_a_closed_list(login, patients) -> None:
    rad = login("rad")
    for junk in ("patient_name;drop table studies", "id", "received_at desc", "1"):
        assert rad.client.get(f"/api/worklist?sort={junk}").status_code == 422
    assert rad.client.get("/api/worklist?order=sideways").status_code == 422


def test_the_worklist_page_shows_who_and_sorts_by_heading(login, patients) -> None:
    page = login("rad").client.get("/worklist?search=doe&sort=patient_name").text
    row = page.split("<tbody>")[1]
    for text in ("DOE, JANE", "MRN-1", "ACC-100", ">F<", "71 y", "2025-03-12", "CHEST PA"):
        assert text in row
    assert "ROE" not in row
    assert 'aria-sort="ascending"' in page and "sort=patient_name&amp;order=desc" in page
    assert "search=doe" in page.split("<thead>")[1].split("</thead>")[0]  # the headings keep the search
    assert '<script src="/static/worklist.js">' in page and 'data-refresh-s="30"' in page


def test_uploads_keep_their_description(login, room: ReadingRoom) -> None:
    rad = login("rad")
    dicom = dicom_bytes(StudyDescription="CHEST 2 VIEWS", PatientName="DOE^JANE", StudyDate="20250312")
    outcomes = upload_and_read(rad, room, ("followup_left_chest.png", png_bytes()), ("a.dcm", dicom))
    items = {item["study_id"]: item for item in rad.client.get("/api/worklist").json()}
    png, dcm = (items[o["study_id"]] for o in outcomes)
    assert png["study_description"] == "followup_left_chest.png" and png["patient_name"] is None
    assert dcm["study_description"] == "CHEST 2 VIEWS" and dcm["patient_name"] == "DOE, JANE"
    assert dcm["study_date"] == "2025-03-12"


def test_study_page_and_print_carry_the_same_header_the_model_and_the_signature(login, room: ReadingRoom) -> None:
    rad = login("rad")
    dicom = dicom_bytes(StudyDescription="CHEST PA", PatientName="DOE^JANE", PatientID="MRN-9", AccessionNumber="A9")
    (outcome,) = upload_and_read(rad, room, ("a.dcm", dicom))
    study_id = outcome["study_id"]
    study = rad.client.get(f"/api/studies/{study_id}").json()
    assert study["header"]["patient_name"] == "DOE, JANE" and study["header"]["patient_id"] == "MRN-9"
    model = f"{study['ai_results'][0]['model_id']} {study['ai_results'][0]['model_version']}"
    assert study["report"]["drafted_by"].startswith(model) and study["report"]["attribution"] is None
    body = {"revision": study["report"]["revision"], "findings": "Pneumothorax.", "impression": "Pneumothorax."}
    signed = rad.write("POST", f"/api/studies/{study_id}/report/sign", json=body).json()  # type: ignore[attr-defined]
    assert signed["attribution"] == "AI-assisted draft, reviewed and signed by Dr rad"
    page, printed = (rad.client.get(f"/studies/{study_id}{suffix}").text for suffix in ("", "/print"))
    for text in ("DOE, JANE", "MRN-9", "A9", "CHEST PA", model):
        assert text in page and text in printed
    assert (
        page.split('id="study-header"')[1].split("</div>")[0]
        == printed.split('id="study-header"')[1].split("</div>")[0]
    )
    assert "AI-assisted draft, reviewed and signed by Dr rad." in printed


def test_names_and_dates_read_as_radiologists_write_them() -> None:
    assert person_name("DOE^JANE^M^^") == "DOE, JANE M"
    assert person_name("ANONYMOUS") == "ANONYMOUS" and person_name(None) is None and person_name("^JANE") == "JANE"
    assert study_date("20250312") == "2025-03-12" and study_date("2025") == "2025" and study_date("") is None
