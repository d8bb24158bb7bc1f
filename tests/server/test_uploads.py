"""Upload limits, read time limits, private file modes, no server paths, and crash recovery (kill -9)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from januscxr.server import create_app
from januscxr.server.datafolder import prepare_data_dir, reconcile_data_dir
from januscxr.server.inference import InferencePool
from januscxr.server.ingest import ingest_file
from januscxr.server.uploads import UploadSizeLimit
from januscxr.storage.database import open_database
from januscxr.storage.studies import get_image
from januscxr.storage.tables import AuditEvent, Image
from tests.server.conftest import PASSWORD, Reader, add_users, dicom_bytes, make_settings, png_bytes, upload_and_read
from tests.server.slow_decoder import SLOW_WIDTH_PX, read_slowly

ROOT = Path(__file__).resolve().parents[2]


def _reader(client: TestClient) -> Reader:
    response = client.post("/api/session", json={"username": "rad", "password": PASSWORD})
    return Reader(client, response.json()["csrf_token"])


def test_an_upload_over_max_upload_mb_gets_413_and_nothing_is_stored(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path, max_upload_mb=1))
    add_users(app.state.room)
    with TestClient(app) as client:
        rad = _reader(client)
        big = [("files", ("big.png", os.urandom(1 << 20)))]
        refused = rad.write("POST", "/api/studies", files=big)
        assert refused.status_code == 413 and "1 MB limit" in refused.json()["message"]  # type: ignore[attr-defined]
        assert rad.write("POST", "/upload", files=big, data={"csrf_token": rad.csrf}).status_code == 413  # type: ignore[attr-defined]
        assert upload_and_read(rad, app.state.room, ("small.png", png_bytes()))[0]["error"] is None
    assert len(list((tmp_path / "data" / "images").iterdir())) == 1


def test_the_limit_holds_while_a_body_without_length_streams() -> None:
    received: list[int] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        while True:  # an app that spools everything it is given
            message = await receive()
            received.append(len(message.get("body", b"")))
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 202, "headers": []})
        await send({"type": "http.response.body", "body": b"stored"})

    chunks = [{"type": "http.request", "body": b"x" * 400_000, "more_body": True} for _ in range(10)]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return chunks.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/api/studies", "headers": []}
    asyncio.run(UploadSizeLimit(app, max_bytes=1_000_000)(scope, receive, send))
    assert sent[0]["status"] == 413 and sum(received) <= 1_000_000 and len(chunks) == 7


def test_a_slow_read_is_abandoned_and_the_next_study_is_read(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'januscxr.db'}")
    data_dir = tmp_path / "data"
    prepare_data_dir(data_dir)
    pool = InferencePool(db, data_dir, classifier="fake-classifier", read_timeout_s=5, decode=read_slowly)
    try:
        ids = []
        for name, data in [("slow.png", png_bytes(1, size=SLOW_WIDTH_PX)), ("fast.png", png_bytes(2))]:
            (tmp_path / name).write_bytes(data)
            ids.append(ingest_file(db, data_dir, tmp_path / name, name=name).image_id or 0)
        for image_id in ids:
            pool.submit(image_id)
        pool.wait_idle(timeout_s=60)
        with db.read() as session:
            slow, fast = (get_image(session, i) for i in ids)
            assert slow.error == "Reading the image took longer than 5 s."
            assert slow.study.ai_status == "failed"
            assert fast.error is None and fast.study.ai_status == "done"
    finally:
        pool.shutdown()
        db.dispose()


def test_an_image_over_the_pixel_limit_is_refused_by_name_not_path(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path, max_image_pixels=90 * 90))
    add_users(app.state.room)
    with TestClient(app) as client:
        rad = _reader(client)
        (outcome,) = upload_and_read(rad, app.state.room, ("big-one.png", png_bytes(size=96)))
        study = client.get(f"/api/studies/{outcome['study_id']}").json()
    (image,) = study["images"]
    assert image["error"] == "The image is too large to read: it has more pixels than this server accepts."
    assert str(tmp_path) not in json.dumps(study)


def test_a_failed_read_shows_the_uploaded_name_never_a_server_path(login, room) -> None:
    rad = login("rad")
    truncated = dicom_bytes()[:-500]  # the header reads; the pixels do not
    (outcome,) = upload_and_read(rad, room, ("cut-short.dcm", truncated))
    study = rad.client.get(f"/api/studies/{outcome['study_id']}").json()
    assert study["images"][0]["error"] == "The image could not be read: the file is truncated."
    assert str(room.data_dir) not in json.dumps(study)
    page = rad.client.get(f"/studies/{outcome['study_id']}").text
    assert str(room.data_dir) not in page


def test_patient_data_is_private_to_the_server_user(login, room) -> None:
    rad = login("rad")
    upload_and_read(rad, room, ("a.dcm", dicom_bytes()))
    data_dir = room.data_dir

    def mode(path: Path) -> int:
        return stat.S_IMODE(path.stat().st_mode)

    assert {mode(p) for p in (data_dir, data_dir / "images", data_dir / "display", data_dir / "spool")} == {0o700}
    files = [*(data_dir / "images").iterdir(), *(data_dir / "display").iterdir()]
    files += [p for p in data_dir.iterdir() if p.name.startswith("januscxr.db")]
    assert len(files) >= 4 and {p.name for p in files} >= {"januscxr.db", "januscxr.db-wal"}
    assert {mode(p) for p in files} == {0o600}, {p.name: oct(mode(p)) for p in files}


def test_start_up_tightens_a_data_folder_made_by_an_earlier_version(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    (data_dir / "images").mkdir(parents=True, mode=0o755)
    data_dir.chmod(0o755)
    (data_dir / "januscxr.db").touch(mode=0o644)
    create_app(make_settings(tmp_path)).state.room.db.dispose()
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((data_dir / "januscxr.db").stat().st_mode) == 0o600


def test_start_up_reconciles_crash_leftovers(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    app = create_app(settings)
    room = app.state.room
    data_dir = settings.data_dir
    sources = [tmp_path / "kept.png", tmp_path / "lost.png"]
    for number, source in enumerate(sources):
        source.write_bytes(png_bytes(number))
    kept, lost = (ingest_file(room.db, data_dir, s, name=s.name) for s in sources)
    with room.db.read() as session:
        (data_dir / get_image(session, lost.image_id or 0).file_path).unlink()
    (data_dir / "images" / "orphan.png").write_bytes(png_bytes(5))
    (data_dir / "images" / ".partial-0123.png").write_bytes(b"half")
    (data_dir / "spool" / "upload-x").mkdir()
    (data_dir / "spool" / "upload-x" / "0").write_bytes(b"patient image")
    with TestClient(app):
        room.pool.wait_idle()
    assert list((data_dir / "quarantine").iterdir()) == [data_dir / "quarantine" / "orphan.png"]
    assert not list((data_dir / "spool").iterdir())
    assert not list((data_dir / "images").glob(".partial-*"))
    with room.db.read() as session:
        assert get_image(session, kept.image_id or 0).study.ai_status == "done"
        missing = get_image(session, lost.image_id or 0)
        assert missing.error == "lost.png: the stored file is missing from the data folder; upload it again"
        assert missing.study.ai_status == "failed"


_CHILD = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from januscxr.server.datafolder import prepare_data_dir
    from januscxr.server.ingest import ingest_file
    from januscxr.storage.database import open_database

    data_dir, sources, stall = Path(sys.argv[1]), sys.argv[2:-1], sys.argv[-1]
    prepare_data_dir(data_dir)
    db = open_database(f"sqlite:///{data_dir / 'januscxr.db'}")
    if stall == "after-rename":  # stop where a crash leaves a placed file and no row
        replace = Path.replace
        def replace_then_stall(self, target):
            result = replace(self, target)
            if Path(target).parent.name == "images":
                print("placed", flush=True)
                time.sleep(600)
            return result
        Path.replace = replace_then_stall
    for source in sources:
        outcome = ingest_file(db, data_dir, Path(source), name=Path(source).name)
        print("stored", outcome.image_id, flush=True)
    time.sleep(600)
    """
)


def _kill_ingest_midway(tmp_path: Path, sources: list[Path], *, stall: str, after_lines: int) -> None:
    command = [sys.executable, "-c", _CHILD, str(tmp_path / "data"), *map(str, sources), stall]
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert child.stdout is not None
        for _ in range(after_lines):
            assert child.stdout.readline(), "the ingest process ended early"
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait()


def _assert_consistent(tmp_path: Path, sources: list[Path]) -> None:
    """Restart, then: every row has its file and an ingest event; no file lacks a row; a retry
    of every source stores each content exactly once."""
    app = create_app(make_settings(tmp_path))
    room = app.state.room
    with TestClient(app):
        room.pool.wait_idle()
        for source in sources:
            ingest_file(room.db, room.data_dir, source, name=source.name)
        room.pool.wait_idle()
    with room.db.read() as session:
        images = session.query(Image).all()
        events = session.query(AuditEvent).filter(AuditEvent.action == "ingest").all()
    assert len(images) == len({i.content_sha256 for i in images}) == len(sources)
    assert {f"images/{p.name}" for p in (room.data_dir / "images").iterdir()} == {i.file_path for i in images}
    assert sorted(e.detail["image_id"] for e in events) == sorted(i.id for i in images)
    assert not list((room.data_dir / "spool").iterdir())


def test_kill_9_between_placing_a_file_and_committing_its_row(tmp_path: Path) -> None:
    sources = [tmp_path / f"{n}.png" for n in range(3)]
    for number, source in enumerate(sources):
        source.write_bytes(png_bytes(number))
    _kill_ingest_midway(tmp_path, sources, stall="after-rename", after_lines=1)
    assert len(list((tmp_path / "data" / "images").iterdir())) == 1  # placed, never committed
    _assert_consistent(tmp_path, sources)
    assert len(list((tmp_path / "data" / "quarantine").iterdir())) == 1


def test_kill_9_during_a_stream_of_ingests(tmp_path: Path) -> None:
    sources = [tmp_path / f"{n}.dcm" for n in range(40)]
    for source in sources:
        source.write_bytes(dicom_bytes())
    _kill_ingest_midway(tmp_path, sources, stall="none", after_lines=5)  # killed wherever it is
    _assert_consistent(tmp_path, sources)


def test_reconcile_on_an_intact_folder_changes_nothing(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'januscxr.db'}")
    prepare_data_dir(tmp_path / "data")
    (tmp_path / "a.png").write_bytes(png_bytes())
    ingest_file(db, tmp_path / "data", tmp_path / "a.png", name="a.png")
    result = reconcile_data_dir(db, tmp_path / "data")
    assert (result.partial_files, result.spooled, result.quarantined, result.missing) == (0, 0, 0, 0)
    db.dispose()
