"""Ingest, worklist, study, report editing, signing, addenda, history, races and reading time."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from januscxr.server.deps import ReadingRoom
from januscxr.server.ingest import FolderWatcher, ingest_file
from januscxr.storage.database import Database
from tests.server.conftest import dicom_bytes, png_bytes, upload_and_read


def test_upload_groups_dicom_by_study_and_reports_bad_files(login, room) -> None:
    rad = login("rad")
    outcomes = upload_and_read(
        rad,
        room,
        ("a1.dcm", dicom_bytes(StudyInstanceUID="1.2.840.99.1")),
        ("a2.dcm", dicom_bytes(StudyInstanceUID="1.2.840.99.1", ViewPosition="AP")),
        ("b.dcm", dicom_bytes(StudyInstanceUID="1.2.840.99.2")),
        ("c.png", png_bytes()),
        ("notes.txt", b"not an image"),
    )
    assert [o["error"] is None for o in outcomes] == [True, True, True, True, False]
    assert outcomes[0]["study_id"] == outcomes[1]["study_id"] != outcomes[2]["study_id"]
    assert "expected DICOM, PNG or JPEG" in outcomes[4]["error"]
    items = rad.client.get("/api/worklist").json()
    assert len(items) == 3 and {i["n_images"] for i in items} == {1, 2}
    assert all(i["priority"] == "critical" and i["top_finding"] == "Pneumothorax" for i in items)
    again = upload_and_read(rad, room, ("b.dcm", dicom_bytes(StudyInstanceUID="1.2.840.99.2")))
    assert again[0]["error"] is None  # a new SOP Instance UID joins the same study
    assert len(rad.client.get("/api/worklist").json()) == 3


def test_study_shows_findings_heatmaps_and_ai_draft(login, room) -> None:
    rad = login("rad")
    (outcome,) = upload_and_read(rad, room, ("a.dcm", dicom_bytes()))
    study = rad.client.get(f"/api/studies/{outcome['study_id']}").json()
    (result,) = study["ai_results"]
    assert result["model_id"] == "fake-classifier" and study["ai_visible"]
    flagged = [f for f in result["findings"] if f["flagged"]]
    assert [f["finding"] for f in flagged] == ["Pneumothorax", "Pleural Effusion"]
    assert "pneumothorax" in study["report"]["findings"].lower() and study["report"]["status"] == "draft"
    heatmap = rad.client.get(flagged[0]["heatmap_url"])
    assert heatmap.status_code == 200 and heatmap.content.startswith(b"\x89PNG")
    image = rad.client.get(study["images"][0]["display_url"])
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    page = rad.client.get(f"/studies/{outcome['study_id']}")
    assert page.status_code == 200 and 'id="viewer"' in page.text and "heatmap-toggle" in page.text


def test_edit_sign_amend_history_and_print(login, room) -> None:
    rad = login("rad")
    (outcome,) = upload_and_read(rad, room, ("a.dcm", dicom_bytes()))
    url = f"/api/studies/{outcome['study_id']}/report"
    saved = rad.write("PUT", url, json={"revision": 1, "findings": "Edited.", "impression": "Edited impression."})
    assert saved.json()["revision"] == 2
    signed = rad.write("POST", f"{url}/sign", json={"revision": 2, "findings": "Final.", "impression": "Final imp."})
    assert signed.status_code == 200 and signed.json()["status"] == "signed" and signed.json()["signed_by"] == "Dr rad"
    changed = rad.write("PUT", url, json={"revision": 3, "findings": "Changed.", "impression": "x"})
    assert changed.status_code == 409 and "addendum" in changed.json()["message"]
    amended = rad.write("POST", f"{url}/addenda", json={"text": "Prior film reviewed."})
    assert amended.status_code == 201 and amended.json()["status"] == "amended"
    report = rad.client.get(url).json()
    assert report["findings"] == "Final." and [a["text"] for a in report["addenda"]] == ["Prior film reviewed."]
    versions = rad.client.get(f"{url}/versions").json()
    assert [v["kind"] for v in versions] == ["ai_draft", "draft", "signed"]
    history = rad.client.get(f"/studies/{outcome['study_id']}/history")
    assert history.status_code == 200 and "<ins>Final</ins>" in history.text and "Prior film reviewed." in history.text
    printed = rad.client.get(f"/studies/{outcome['study_id']}/print")
    assert printed.status_code == 200 and "Final imp." in printed.text and "Signed by Dr rad" in printed.text
    assert rad.client.get("/worklist?status=amended").text.count("data-study-id") == 1
    events = login("admin").client.get(f"/api/audit?study_id={outcome['study_id']}").json()
    actions = [(e["username"], e["action"]) for e in reversed(events)]
    assert [action for _, action in actions if action != "ingest"] == [
        *("save_draft", "sign", "addendum", "read_report", "read_versions", "history", "print")
    ]
    assert {name for name, _ in actions} == {"rad"}
    assert all(e["at"] and "Final" not in str(e["detail"]) for e in events)


def test_resident_reports_need_a_cosignature(login, room) -> None:
    res, rad = login("res"), login("rad")
    (outcome,) = upload_and_read(rad, room, ("a.dcm", dicom_bytes()))
    url = f"/api/studies/{outcome['study_id']}/report"
    body = {"revision": 1, "findings": "By the resident.", "impression": "x"}
    assert res.write("POST", f"{url}/sign", json=body).json()["status"] == "preliminary"
    again = res.write("POST", f"{url}/sign", json=body | {"revision": 2})
    assert again.status_code == 409 and "co-signature" in again.json()["message"]
    assert [i["report_status"] for i in rad.client.get("/api/worklist").json()] == ["preliminary"]
    cosigned = rad.write("POST", f"{url}/sign", json=body | {"revision": 2}).json()
    assert (cosigned["status"], cosigned["signed_by"], cosigned["cosigned_by"]) == ("signed", "Dr res", "Dr rad")


def test_two_readers_sign_at_once_one_gets_409_nothing_lost(login, room) -> None:
    readers = {"rad": login("rad"), "rad2": login("rad2")}
    (outcome,) = upload_and_read(readers["rad"], room, ("a.dcm", dicom_bytes()))
    url = f"/api/studies/{outcome['study_id']}/report"
    barrier = threading.Barrier(2)
    statuses: dict[str, int] = {}

    def sign(name: str) -> None:
        body = {"revision": 1, "findings": f"Read by {name}.", "impression": name}
        barrier.wait()
        statuses[name] = readers[name].write("POST", f"{url}/sign", json=body).status_code

    threads = [threading.Thread(target=sign, args=(name,)) for name in readers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses.values()) == [200, 409]
    loser = next(name for name, status in statuses.items() if status == 409)
    versions = readers["rad"].client.get(f"{url}/versions").json()
    assert [v["findings"] for v in versions if v["kind"] == "conflict"] == [f"Read by {loser}."]
    events = login("admin").client.get(f"/api/audit?study_id={outcome['study_id']}").json()
    assert {"sign", "conflict"} <= {e["action"] for e in events}


def test_reading_time_counts_activity_until_signed(login, room) -> None:
    rad = login("rad")
    (outcome,) = upload_and_read(rad, room, ("a.dcm", dicom_bytes()))
    study_id = outcome["study_id"]
    rad.client.get(f"/api/studies/{study_id}")
    for active_ms in (4000, 6000, 10_000_000 // 100):
        assert rad.write("POST", f"/api/studies/{study_id}/activity", json={"active_ms": active_ms}).status_code == 204
    assert rad.client.get(f"/api/studies/{study_id}").json()["active_s"] == 70.0  # 4 + 6 + 60 (idle cap)
    rad.write("POST", f"/api/studies/{study_id}/report/sign", json={"revision": 1, "findings": "a", "impression": "b"})
    rad.write("POST", f"/api/studies/{study_id}/activity", json={"active_ms": 5000})
    assert rad.client.get(f"/api/studies/{study_id}").json()["active_s"] == 70.0


def test_worklist_page_filters(login, room) -> None:
    rad = login("rad")
    upload_and_read(rad, room, ("a.dcm", dicom_bytes()), ("b.png", png_bytes()))
    page = rad.client.get("/worklist")
    assert page.status_code == 200 and page.text.count("data-study-id") == 2 and "badge critical" in page.text
    assert rad.client.get("/worklist?finding=Edema").text.count("data-study-id") == 0
    assert rad.client.get("/api/worklist?finding=pneumothorax&received_from=2000-01-01").json()


def test_worklist_page_and_api_take_the_same_filters(login, room) -> None:
    """One dependency parses the worklist's filters for both: the page pages with ``offset`` as the API does."""
    rad = login("rad")
    upload_and_read(rad, room, ("a.png", png_bytes(0)), ("b.png", png_bytes(1)), ("c.png", png_bytes(2)))
    for query in ("?limit=2", "?offset=1", "?offset=1&limit=1&sort=received&order=desc", "?offset=3"):
        api = [item["study_id"] for item in rad.client.get(f"/api/worklist{query}").json()]
        page = rad.client.get(f"/worklist{query}").text
        assert [int(i) for i in re.findall(r'data-study-id="([0-9]+)"', page)] == api, query
    for junk in ("?offset=-1", "?limit=0", "?order=sideways", "?finding=nope"):
        assert (
            rad.client.get(f"/worklist{junk}").status_code == rad.client.get(f"/api/worklist{junk}").status_code == 422
        )


def test_report_changes_answer_with_what_their_write_left(login, room) -> None:
    """Opening, saving, signing and amending read once before their write transaction and answer
    from it, not from another read after it; the answer is the report as a later read finds it."""
    rad = login("rad")
    (outcome,) = upload_and_read(rad, room, ("a.dcm", dicom_bytes()))
    study_id = outcome["study_id"]
    url = f"/api/studies/{study_id}/report"
    assert rad.client.get("/api/me").status_code == 200
    steps = [
        ("GET", f"/api/studies/{study_id}", None),
        ("PUT", url, {"revision": 1, "findings": "Edited.", "impression": "Edited impression."}),
        ("POST", f"{url}/sign", {"revision": 2, "findings": "Final.", "impression": "Final imp."}),
        ("POST", f"{url}/addenda", {"text": "Prior film reviewed."}),
    ]
    for method, path, body in steps:
        transactions, response = _transactions_of(room, partial(rad.write, method, path, json=body))
        assert response.status_code in (200, 201), response.text
        # the session lookup (in the database on every request, so that several processes share
        # it), then one read before the write transaction, and nothing after it
        assert transactions == ["read", "read", "write"], path
        answer = response.json()["report"] if method == "GET" else response.json()
        assert answer == rad.client.get(url).json(), path
    assert answer["status"] == "amended" and [a["text"] for a in answer["addenda"]] == ["Prior film reviewed."]
    assert answer["discordances"]  # "Final." leaves out what the AI result the page shows first flags


def _transactions_of(room: ReadingRoom, call: Callable[[], Any]) -> tuple[list[str], Any]:
    """The database transactions ``call`` opens, in order ("read" or "write"), and what it returned."""
    transactions: list[str] = []
    with pytest.MonkeyPatch.context() as patch:
        for kind in ("read", "write"):
            patch.setattr(room.db, kind, _counted(kind, getattr(room.db, kind), transactions))
        return transactions, call()


def _counted(kind: str, opened: Callable[[], Any], transactions: list[str]) -> Callable[[], Any]:
    def counted() -> Any:
        transactions.append(kind)
        return opened()

    return counted


def test_watched_folder_ingests_settled_files(room: ReadingRoom, tmp_path: Path) -> None:
    folder = tmp_path / "incoming"
    folder.mkdir()
    (folder / "a.dcm").write_bytes(dicom_bytes())
    (folder / "junk.dcm").write_bytes(b"garbage")

    def ingest(path: Path):  # type: ignore[no-untyped-def]
        return ingest_file(room.db, room.data_dir, path, name=path.name)

    watcher = FolderWatcher(folder, 0.01, ingest)
    assert watcher.poll() == []  # first sight: wait for the size to settle
    outcomes = watcher.poll()
    assert [o.error is None for o in outcomes] == [True, False]
    assert (folder / "processed" / "a.dcm").exists() and (folder / "failed" / "junk.dcm").exists()


def test_openapi_document_for_logged_in_users(login) -> None:
    rad = login("rad")
    spec = rad.client.get("/api/openapi.json").json()
    assert "/api/worklist" in spec["paths"] and "/api/studies/{study_id}/report/sign" in spec["paths"]
    assert "/api/worklist" in rad.client.get("/api/docs").text


def test_restart_requeues_unread_images(tmp_path: Path) -> None:
    from januscxr.server import create_app
    from tests.server.conftest import add_users, make_settings

    settings = make_settings(tmp_path)
    first = create_app(settings)
    db: Database = first.state.room.db
    outcome = ingest_file(db, settings.data_dir, _write(tmp_path / "x.dcm", dicom_bytes()), name="x.dcm")
    db.dispose()
    second = create_app(settings)
    add_users(second.state.room)
    with TestClient(second):
        second.state.room.pool.wait_idle()
        with second.state.room.db.read() as session:
            from januscxr.storage.studies import get_study

            assert get_study(session, outcome.study_id or 0).ai_status == "done"


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_upload_form_with_its_csrf_field(login, room) -> None:
    rad = login("rad")
    form = rad.client.get("/upload")
    assert form.status_code == 200 and f'value="{rad.csrf}"' in form.text
    files = [("files", ("a.png", png_bytes())), ("files", ("b.dcm", dicom_bytes()))]
    refused = rad.client.post("/upload", files=files, data={"csrf_token": "forged"})
    assert refused.status_code == 403
    page = rad.client.post("/upload", files=files, data={"csrf_token": rad.csrf})
    room.pool.wait_idle()
    assert page.status_code == 200 and page.text.count("/studies/") >= 2
    assert len(rad.client.get("/api/worklist").json()) == 2


def test_worklist_escapes_what_the_dicom_says(login, room) -> None:
    rad = login("rad")
    upload_and_read(rad, room, ("a.dcm", dicom_bytes(AccessionNumber="<b>x</b>")))
    page = rad.client.get("/worklist").text
    assert "<b>x</b>" not in page and "&lt;b&gt;x&lt;/b&gt;" in page
