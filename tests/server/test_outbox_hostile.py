"""The outbox against a careless deployment: deleted source images, bad host names, a sender that throws."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from pydicom.uid import generate_uid

from januscxr.errors import ConfigurationError, DeliveryError
from januscxr.labels import Finding
from januscxr.pacs.store_scu import parse_dicom_destination, send_cstore
from januscxr.server.outbox import OutboundConfig, OutboxSender
from januscxr.server.outbox_objects import queue_ai_result
from januscxr.storage import outbox
from januscxr.storage.database import Database, open_database
from januscxr.storage.outbox import OutboxKind, OutgoingObject
from januscxr.storage.studies import StudyAttributes, add_image, add_study
from januscxr.types import DraftReport, FindingResult, Prediction
from tests.conftest import cr_dataset


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = open_database(f"sqlite:///{tmp_path / 'januscxr.db'}")
    yield database
    database.dispose()


def test_ai_objects_of_a_source_deleted_from_the_data_folder_are_set_aside_with_the_reason(
    db: Database, tmp_path: Path
) -> None:
    config = OutboundConfig(dicom=(parse_dicom_destination("PACS@127.0.0.1:11112", calling_ae_title="JANUSCXR"),))
    prediction = Prediction(
        {Finding.PLEURAL_EFFUSION: FindingResult(Finding.PLEURAL_EFFUSION, probability=0.9, threshold=0.5)},
        model_id="fake-classifier",
        model_version="1",
    )
    with db.write() as session:
        study, _ = add_study(session, StudyAttributes(generate_uid(), "ACC-1", "PAT-1"))
        image = add_image(session, study, sop_instance_uid=generate_uid(), file_path="images/gone.dcm")
        upload = add_image(session, study, sop_instance_uid=generate_uid(), file_path="images/gone.png")
        draft = DraftReport("Effusion.", "Effusion.", "fake")
        pixels = np.zeros((8, 8), dtype=np.float32)
        queued = queue_ai_result(session, config, tmp_path, image, prediction, pixels=pixels, draft=draft)
        assert queue_ai_result(session, config, tmp_path, upload, prediction, pixels=pixels, draft=draft) == 0
    assert queued == 1
    with db.read() as session:
        (row,) = outbox.outbox_rows(session)
    assert row.kind == OutboxKind.AI_SR and row.state == "failed"
    assert row.last_error is not None and "images/gone.dcm" in row.last_error
    sender = OutboxSender(db, tmp_path, config)
    assert sender.send_one(config.dicom[0].name) is False  # set aside: never claimed, nothing raised


def test_a_malformed_host_name_is_refused_and_an_unknown_one_is_retried(tmp_path: Path) -> None:
    for entry in ("PACS@bad host:104", "PACS@pacs!:104", "PACS@-pacs:104", "PACS@a..b:104"):
        with pytest.raises(ConfigurationError, match=r"^outbound_dicom: host "):
            parse_dicom_destination(entry, calling_ae_title="JANUSCXR")
    destination = parse_dicom_destination("PACS@no-such-host.invalid:104", calling_ae_title="JANUSCXR", timeout_s=2)
    path = tmp_path / "sr.dcm"
    cr_dataset().save_as(path, enforce_file_format=True)
    with pytest.raises(DeliveryError, match="no-such-host.invalid") as raised:
        send_cstore(path, destination)
    assert raised.value.retryable


def test_the_sender_survives_an_unexpected_exception_and_sends_the_other_items(db: Database, tmp_path: Path) -> None:
    with db.write() as session:
        for uid in ("one", "boom", "three", "four"):
            outbox.enqueue(session, "fake", OutgoingObject(OutboxKind.ORU, uid, payload_text=f"message {uid}"))
    sent: list[str] = []
    config = OutboundConfig(poll_s=0.05, backoff_base_s=60)
    sender = OutboxSender(db, tmp_path, config)

    def send(item: outbox.ClaimedItem) -> None:
        if item.object_uid == "boom":
            raise KeyError("a bug in one item")
        sent.append(item.object_uid)

    sender._senders = {"fake": send}
    sender.start()
    try:
        deadline = time.monotonic() + 20
        while len(sent) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sorted(sent) == ["four", "one", "three"]
        assert all(thread.is_alive() for thread in sender._threads)
        assert any(t.name.startswith("januscxr-outbox") for t in threading.enumerate())
    finally:
        sender.stop()
    with db.read() as session:
        rows = {row.object_uid: row for row in outbox.outbox_rows(session)}
    assert rows["boom"].state != "done" and rows["boom"].last_error == "KeyError: 'a bug in one item'"
    assert {rows[uid].state for uid in ("one", "three", "four")} == {"done"}
