"""Ingest never stops on a bad file: malformed headers in the watched folder and in uploads,
NUL bytes in names, duplicates by content, one audit event per stored file, and a fuzz test."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from januscxr.server.deps import ReadingRoom
from januscxr.server.ingest import FolderWatcher, IngestOutcome, ingest_file, safe_file_name
from januscxr.storage.database import Database, open_database
from januscxr.storage.tables import AuditEvent, Image
from tests.server.conftest import dicom_bytes, png_bytes, upload_and_read
from tests.server.malformed import length_past_end_dicom, unknown_vr_dicom


def _wait_for(condition, timeout_s: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_malformed_headers_neither_stop_the_watch_thread_nor_later_files(room: ReadingRoom, tmp_path: Path) -> None:
    folder = tmp_path / "incoming"
    folder.mkdir()
    files = {
        "1-good.dcm": dicom_bytes(),
        "2-unknown-vr.dcm": unknown_vr_dicom(),
        "3-past-end.dcm": length_past_end_dicom(),
        "4-boom.dcm": dicom_bytes(),
        "5-good.png": png_bytes(),
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)

    def ingest(path: Path) -> IngestOutcome:
        if "boom" in path.name:
            raise RuntimeError("a bug in ingest, not a bad file")
        return ingest_file(room.db, room.data_dir, path, name=path.name, origin="watch")

    watcher = FolderWatcher(folder, 0.02, ingest)
    watcher.start()
    try:
        _wait_for(lambda: not any(p.is_file() for p in folder.iterdir()))
        (folder / "6-later.dcm").write_bytes(dicom_bytes())  # arrives after the bad ones
        _wait_for(lambda: (folder / "processed" / "6-later.dcm").exists())
        assert watcher.is_alive
    finally:
        watcher.stop()
    assert sorted(p.name for p in (folder / "processed").iterdir()) == ["1-good.dcm", "5-good.png", "6-later.dcm"]
    assert sorted(p.name for p in (folder / "failed").iterdir()) == ["2-unknown-vr.dcm", "3-past-end.dcm", "4-boom.dcm"]
    with room.db.read() as session:
        assert session.query(Image).count() == 3


def test_upload_with_malformed_files_in_the_middle_answers_every_file(login, room: ReadingRoom) -> None:
    rad = login("rad")
    outcomes = upload_and_read(
        rad,
        room,
        ("first.dcm", dicom_bytes()),
        ("unknown-vr.dcm", unknown_vr_dicom()),
        ("past-end.dcm", length_past_end_dicom()),
        ("last.png", png_bytes()),
    )
    assert [o["name"] for o in outcomes] == ["first.dcm", "unknown-vr.dcm", "past-end.dcm", "last.png"]
    assert [o["error"] is None for o in outcomes] == [True, False, False, True]
    assert "unknown-vr.dcm: DICOM attribute PatientID" in str(outcomes[1]["error"])
    assert "past-end.dcm: DICOM attribute Rows" in str(outcomes[2]["error"])
    assert all(str(room.data_dir) not in str(o["error"]) for o in outcomes)
    events = login("admin").client.get("/api/audit").json()
    upload = next(e for e in events if e["action"] == "upload")
    assert upload["detail"] == {"files": 4, "accepted": 2, "duplicates": 0, "refused": 2}


def test_nul_byte_and_path_in_an_upload_name_are_made_safe(login, room: ReadingRoom) -> None:
    rad = login("rad")
    files = [
        (b"a\x00b.png", png_bytes(1)),
        (b"../../etc/x\x07.dcm", dicom_bytes()),
        (b"ok.png", png_bytes(2)),
        (b"y.p\x00ng", png_bytes(3)),
    ]
    boundary = b"januscxr-test-boundary"
    body = b"".join(
        b"--" + boundary + b'\r\nContent-Disposition: form-data; name="files"; filename="' + name + b'"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n" + data + b"\r\n"
        for name, data in files
    )
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary.decode()}", "X-CSRF-Token": rad.csrf}
    response = rad.client.post("/api/studies", content=body + b"--" + boundary + b"--\r\n", headers=headers)
    assert response.status_code == 202, response.text
    outcomes = response.json()
    assert [o["name"] for o in outcomes] == ["ab.png", "x.dcm", "ok.png", "y.png"]
    assert all(o["error"] is None for o in outcomes)
    room.pool.wait_idle()
    with room.db.read() as session:
        assert sorted(i.original_name or "" for i in session.query(Image)) == ["ab.png", "ok.png", "x.dcm", "y.png"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("chest.dcm", "chest.dcm"),
        ("C:\\films\\a.png", "a.png"),
        ("\x00\x01", "file 1"),
        (None, "file 1"),
        ("é" * 300, "é" * 255),
    ],
)
def test_safe_file_name(raw: str | None, expected: str) -> None:
    assert safe_file_name(raw, fallback="file 1") == expected


def test_a_resent_file_is_a_duplicate_of_its_study_not_a_new_one(login, room: ReadingRoom) -> None:
    rad = login("rad")
    png, dcm = png_bytes(3), dicom_bytes()
    first = upload_and_read(rad, room, ("a.png", png), ("b.dcm", dcm))
    again = upload_and_read(rad, room, ("a-again.png", png), ("b.dcm", dcm))
    for before, after in zip(first, again, strict=True):
        assert after["duplicate"] and after["error"] is None
        assert (after["study_id"], after["image_id"]) == (before["study_id"], before["image_id"])
    assert len(rad.client.get("/api/worklist").json()) == 2
    with room.db.read() as session:
        assert session.query(Image).count() == 2
    assert len(list((room.data_dir / "images").iterdir())) == 2
    page = rad.client.post("/upload", files=[("files", ("a.png", png))], data={"csrf_token": rad.csrf})
    assert "already received" in page.text and f"/studies/{first[0]['study_id']}" in page.text


def test_one_audit_event_per_stored_file_with_ids_only(login, room: ReadingRoom) -> None:
    rad = login("rad")
    outcomes = upload_and_read(rad, room, ("Doe^John.dcm", dicom_bytes(PatientName="Doe^John")), ("x.png", png_bytes()))
    with room.db.read() as session:
        events = session.query(AuditEvent).filter(AuditEvent.action == "ingest").order_by(AuditEvent.id).all()
    assert [(e.username, e.study_id, e.detail) for e in events] == [
        ("rad", o["study_id"], {"source": "upload", "image_id": o["image_id"], "outcome": "stored"}) for o in outcomes
    ]
    assert all("Doe" not in str(e.detail) for e in events)


@pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom warns on every invalid value
def test_fuzzed_dicom_bytes_always_get_an_outcome(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'fuzz.db'}")
    seed = dicom_bytes(PatientID="PID1", AccessionNumber="ACC1")
    header_end = seed.index(b"\xe0\x7f\x10\x00")  # mutate the header, where the parsing is

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        edits=st.lists(st.tuples(st.integers(0, header_end - 1), st.integers(0, 255)), max_size=8),
        cut=st.one_of(st.none(), st.integers(132, len(seed))),
    )
    def ingest_mutant(edits: list[tuple[int, int]], cut: int | None) -> None:
        data = bytearray(seed)
        for offset, value in edits:
            data[offset] = value
        source = tmp_path / "mutant.dcm"
        source.write_bytes(bytes(data[:cut]))
        outcome = ingest_file(db, tmp_path / "data", source, name="mutant.dcm")
        assert isinstance(outcome, IngestOutcome)
        assert (outcome.error is None) == (outcome.image_id is not None) or outcome.duplicate
        assert str(tmp_path) not in (outcome.error or "")

    (tmp_path / "data" / "images").mkdir(parents=True)
    ingest_mutant()
    _assert_every_row_has_its_file(db, tmp_path / "data")
    db.dispose()


def _assert_every_row_has_its_file(db: Database, data_dir: Path) -> None:
    with db.read() as session:
        stored = {i.file_path for i in session.query(Image)}
    assert stored == {f"images/{p.name}" for p in (data_dir / "images").iterdir()}


def test_ingest_keeps_working_on_postgres(tmp_path: Path) -> None:
    from tests.storage.conftest import fresh_postgres, postgres_url

    url = postgres_url()
    fresh_postgres(url)
    db = open_database(url)
    try:
        (tmp_path / "data" / "images").mkdir(parents=True)
        for name, data in [("a.dcm", dicom_bytes(PatientName="Nul\x00Name")), ("b.dcm", unknown_vr_dicom())]:
            (tmp_path / name).write_bytes(data)
        stored = ingest_file(db, tmp_path / "data", tmp_path / "a.dcm", name="a.dcm")
        refused = ingest_file(db, tmp_path / "data", tmp_path / "b.dcm", name="b.dcm")
        again = ingest_file(db, tmp_path / "data", tmp_path / "a.dcm", name="a.dcm")
        assert stored.error is None and refused.error and again.duplicate and again.study_id == stored.study_id
        _assert_every_row_has_its_file(db, tmp_path / "data")
    finally:
        db.dispose()
