"""The listener inside the reading room, driven by DCMTK's echoscu and storescu on loopback."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydicom.uid import CTImageStorage
from sqlalchemy import func, select

from januscxr.server import create_app
from januscxr.server.deps import ReadingRoom
from januscxr.storage.database import open_database
from januscxr.storage.tables import AuditEvent, Image
from tests.conftest import cr_dataset
from tests.pacs.conftest import SCP_AE, dcmtk_tool, free_port, write_file
from tests.server.conftest import PASSWORD, add_users, make_settings

pytestmark = pytest.mark.pacs
CALLING = "STORESCU"


@dataclass
class Room:
    app: FastAPI
    client: TestClient
    port: int

    @property
    def room(self) -> ReadingRoom:
        room: ReadingRoom = self.app.state.room
        return room

    def worklist(self) -> list[dict[str, object]]:
        self.room.pool.wait_idle()
        response = self.client.get("/api/worklist")
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    def images(self) -> int:
        with self.room.db.read() as session:
            return int(session.scalar(select(func.count()).select_from(Image)) or 0)

    def skipped(self) -> list[dict[str, object]]:
        with self.room.db.read() as session:
            events = session.scalars(select(AuditEvent).where(AuditEvent.action == "dicom_skipped")).all()
            return [dict(event.detail) for event in events]


@pytest.fixture
def reading_room(tmp_path: Path) -> Iterator[Room]:
    port = free_port()
    settings = make_settings(tmp_path, dicom_port=port, dicom_allowed_callers=[CALLING, "OTHER@127.0.0.1"])
    app = create_app(settings)
    add_users(app.state.room)
    with TestClient(app) as client:  # the lifespan starts (and stops) the listener
        assert client.post("/api/session", json={"username": "rad", "password": PASSWORD}).status_code == 200
        yield Room(app, client, port)


def _dcmtk(
    tool: str, port: int, *files: Path, calling: str = CALLING, options: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    command = [dcmtk_tool(tool), *options, "-aet", calling, "-aec", SCP_AE, "127.0.0.1", str(port), *map(str, files)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def test_echoscu_is_answered_and_an_unknown_ae_is_rejected(reading_room: Room) -> None:
    assert _dcmtk("echoscu", reading_room.port).returncode == 0
    refused = _dcmtk("echoscu", reading_room.port, calling="NOBODY")
    assert refused.returncode != 0 and "reject" in (refused.stdout + refused.stderr).lower()


def test_a_stored_study_is_ingested_read_and_on_the_worklist_once(reading_room: Room, tmp_path: Path) -> None:
    sent = write_file(cr_dataset(AccessionNumber="ACC-DIMSE-1"), tmp_path / "cr.dcm")
    done = _dcmtk("storescu", reading_room.port, sent)
    assert done.returncode == 0, done.stderr
    worklist = reading_room.worklist()
    assert [(item["accession_number"], item["ai_status"]) for item in worklist] == [("ACC-DIMSE-1", "done")]
    assert _dcmtk("storescu", reading_room.port, sent).returncode == 0  # sent again: acknowledged, not stored
    assert len(reading_room.worklist()) == 1 and reading_room.images() == 1


def test_a_jpeg2000_chest_radiograph_is_received_and_read(reading_room: Room, shared_data: Path) -> None:
    fixture = shared_data / "fixtures" / "dicom" / "RG1_J2KR.dcm"
    if not fixture.is_file():
        pytest.skip(f"{fixture} is absent")
    done = _dcmtk("storescu", reading_room.port, fixture, options=("--propose-j2k-lossless",))  # sent as stored
    assert done.returncode == 0, done.stderr
    assert [item["ai_status"] for item in reading_room.worklist()] == ["done"]


def test_a_corrupt_instance_fails_while_the_next_one_is_stored(reading_room: Room, tmp_path: Path) -> None:
    corrupt = cr_dataset()
    corrupt.PixelData = corrupt.PixelData[:1000]  # the header says 128x120 16-bit pixels
    files = [write_file(corrupt, tmp_path / "a-corrupt.dcm"), write_file(cr_dataset(), tmp_path / "b-good.dcm")]
    done = _dcmtk("storescu", reading_room.port, *files, options=("--no-halt", "--verbose"))  # one association
    output = done.stdout + done.stderr
    assert "Received Store Response (Error: CannotUnderstand)" in output
    assert output.count("Requesting Association") == 1 and "Received Store Response (Success)" in output
    assert reading_room.images() == 1
    assert [item["ai_status"] for item in reading_room.worklist()] == ["done"]


def test_a_ct_instance_is_acknowledged_and_recorded_as_skipped(reading_room: Room, tmp_path: Path) -> None:
    ct = cr_dataset(Modality="CT", SOPClassUID=CTImageStorage, PatientName="Doe^Jane")
    ct.file_meta.MediaStorageSOPClassUID = CTImageStorage
    done = _dcmtk("storescu", reading_room.port, write_file(ct, tmp_path / "ct.dcm"))
    assert done.returncode == 0, done.stderr
    assert reading_room.images() == 0 and reading_room.worklist() == []
    skipped = reading_room.skipped()
    assert skipped == [
        {"calling_ae_title": CALLING, "reason": "SOP Class is CT Image Storage; expected CR or DX Image Storage"}
    ]
    assert "Doe" not in str(skipped)


def test_dicom_listen_runs_the_listener_alone(tmp_path: Path) -> None:
    port, data_dir = free_port(), tmp_path / "data"
    januscxr = shutil.which("januscxr") or pytest.skip("the januscxr console script is not installed")
    command = [januscxr, "dicom", "listen", "--port", str(port), "--allow", CALLING, "--data-dir", str(data_dir)]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_echo(port, process)
        done = _dcmtk("storescu", port, write_file(cr_dataset(), tmp_path / "cr.dcm"))
        assert done.returncode == 0, done.stderr
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    db = open_database(f"sqlite:///{(data_dir / 'januscxr.db').resolve()}")
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(Image)) == 1
    db.dispose()


def _wait_for_echo(port: int, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"januscxr dicom listen exited: {process.stderr.read() if process.stderr else ''}")
        if _dcmtk("echoscu", port).returncode == 0:
            return
        time.sleep(0.3)
    raise AssertionError(f"no C-ECHO answer on port {port} within 60 s ({sys.executable})")
