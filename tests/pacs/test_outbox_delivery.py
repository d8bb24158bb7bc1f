"""The outbox against a real Orthanc: ten objects wait while it is down and arrive exactly once when it is back."""

from __future__ import annotations

import time
from pathlib import Path

import pydicom
import pytest
from sqlalchemy import update

from januscxr.interop import ai_result_sr
from januscxr.pacs.store_scu import DicomDestination
from januscxr.server.outbox import OUTBOX, OutboundConfig, OutboxSender
from januscxr.storage import outbox
from januscxr.storage.database import Database, open_database
from januscxr.storage.tables import JobState, OutboxItem
from tests.conftest import cr_dataset
from tests.interop.outgoing import ALGORITHM, RESULTS
from tests.pacs.conftest import free_port
from tests.pacs.orthanc import run_orthanc

pytestmark = pytest.mark.pacs

OBJECTS = 10


def wait_for(condition: object, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(0.1)


def queue_results(db: Database, data_dir: Path, destination: str) -> list[str]:
    """Ten AI result SRs of ten studies, written to the data folder and queued for ``destination``."""
    (data_dir / OUTBOX).mkdir(parents=True)
    uids = []
    for _ in range(OBJECTS):
        source = cr_dataset(AccessionNumber="ACC", PatientID="PAT")
        sr = ai_result_sr(source, RESULTS, ALGORITHM)
        relative = f"{OUTBOX}/{sr.SOPInstanceUID}.dcm"
        sr.save_as(data_dir / relative, enforce_file_format=True)
        item = outbox.OutgoingObject(outbox.OutboxKind.AI_SR, str(sr.SOPInstanceUID), payload_path=relative)
        with db.write() as session:
            assert outbox.enqueue(session, destination, item)
            assert not outbox.enqueue(session, destination, item)  # the key is taken: queued once
        uids.append(str(sr.SOPInstanceUID))
    return uids


def items(db: Database) -> list[OutboxItem]:
    with db.read() as session:
        return list(session.query(OutboxItem).order_by(OutboxItem.id))


def test_ten_results_wait_for_a_stopped_pacs_and_arrive_exactly_once(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'januscxr.db'}")
    data_dir = tmp_path / "data"
    port = free_port()  # the PACS's DICOM port; nothing listens there while it is stopped
    destination = DicomDestination("ORTHANC", "127.0.0.1", port, timeout_s=2)
    uids = queue_results(db, data_dir, destination.name)
    config = OutboundConfig(dicom=(destination,), backoff_base_s=0.2, backoff_cap_s=0.5, poll_s=0.1)
    sender = OutboxSender(db, data_dir, config)
    sender.start()
    try:
        wait_for(lambda: all(i.attempts >= 2 for i in items(db)), 30, "two failed attempts at every item")
        for item in items(db):
            assert item.state in (JobState.QUEUED.value, JobState.RUNNING.value) and "association" in (
                item.last_error or ""
            )
        with run_orthanc(tmp_path, config={"DicomPort": port}) as orthanc:
            wait_for(lambda: all(i.state == JobState.DONE.value for i in items(db)), 60, "every item sent")
            stored = orthanc.get("/instances?expand")
            assert sorted(i["MainDicomTags"]["SOPInstanceUID"] for i in stored) == sorted(uids)
            # A sender that died after sending and before marking the item sent: the item goes again,
            # with the same SOP Instance UID, and the PACS still holds it once.
            with db.write() as session:
                session.execute(update(OutboxItem).where(OutboxItem.id == 1).values(state=JobState.QUEUED.value))
            wait_for(lambda: items(db)[0].state == JobState.DONE.value, 30, "the resend")
            assert len(orthanc.get("/instances")) == OBJECTS
            assert orthanc.get("/statistics")["CountInstances"] == OBJECTS
            sent = pydicom.dcmread(data_dir / items(db)[0].payload_path)  # type: ignore[operator]
            assert sent.SOPInstanceUID == uids[0]
    finally:
        sender.stop()
        db.dispose()
    with db.read() as session:
        assert outbox.count_by_state(session) == {JobState.DONE.value: OBJECTS}
