"""The outbox wired into the reading room: reads and signatures queue their objects; receivers that fail are retried.

Receivers on loopback: a pynetdicom storage SCP, the MLLP receiver (python-hl7) and the validating
FHIR endpoint of tests/pacs. The app's background services run the sender, as `januscxr serve` does.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from pydicom.dataset import Dataset
from pynetdicom import AE, evt
from pynetdicom.sop_class import Comprehensive3DSRStorage, EnhancedSRStorage, SecondaryCaptureImageStorage

from januscxr.server import create_app
from januscxr.server.deps import ReadingRoom
from januscxr.storage import outbox
from januscxr.storage.tables import AuditEvent, JobState, OutboxItem
from tests.pacs.conftest import free_port
from tests.pacs.fhir_server import FhirStore, fhir_server
from tests.pacs.mllp_receiver import Receiver, mllp_receiver
from tests.server.conftest import Reader, add_users, dicom_bytes, make_settings, upload_and_read

pytestmark = pytest.mark.pacs

ORDERED = {
    "AccessionNumber": "ACC-77",
    "PatientID": "PAT-77",
    "PatientName": "Doe^Ann",
    "PatientBirthDate": "19500102",
    "PatientOrientation": ["P", "F"],
    "PlacerOrderNumberImagingServiceRequest": "PLC-1",
    "FillerOrderNumberImagingServiceRequest": "FIL-1",
}


@dataclass
class StoreScp:
    """A storage SCP answering ``status``; every dataset it was sent, in order."""

    status: int = 0x0000
    received: list[Dataset] = field(default_factory=list)
    port: int = field(default_factory=free_port)

    def __post_init__(self) -> None:
        ae = AE(ae_title="PACS")
        for sop_class in (Comprehensive3DSRStorage, EnhancedSRStorage, SecondaryCaptureImageStorage):
            ae.add_supported_context(sop_class)
        self.server = ae.start_server(
            ("127.0.0.1", self.port), block=False, evt_handlers=[(evt.EVT_C_STORE, self._store)]
        )

    def _store(self, event: Any) -> int:
        if self.status == 0x0000:
            self.received.append(event.dataset)
        return self.status

    def of_class(self, sop_class: str) -> list[Dataset]:
        return [d for d in self.received if d.SOPClassUID == sop_class]


@dataclass
class Receivers:
    scp: StoreScp
    mllp: Receiver
    fhir: FhirStore


@pytest.fixture
def receivers() -> Iterator[Receivers]:
    scp = StoreScp()
    with mllp_receiver() as mllp, fhir_server() as fhir:
        yield Receivers(scp, mllp, fhir)
    scp.server.shutdown()


@pytest.fixture
def app(tmp_path: Path, receivers: Receivers) -> Iterator[FastAPI]:
    """The reading room of tests/server/conftest.py, sending to ``receivers`` with short timeouts and backoff."""
    settings = make_settings(
        tmp_path,
        outbound_dicom=[f"PACS@127.0.0.1:{receivers.scp.port}"],
        outbound_mllp_host="127.0.0.1",
        outbound_mllp_port=receivers.mllp.port,
        outbound_hl7_receiving_application="RIS",
        outbound_fhir_url=receivers.fhir.url,
        outbound_organization="St. Olav Hospital",
        outbound_timeout_s=1.0,
        outbound_backoff_base_s=0.2,
        outbound_backoff_cap_s=0.5,
        outbound_poll_s=0.1,
    )
    app = create_app(settings)
    add_users(app.state.room)
    yield app


def wait_for(condition: Callable[[], object], what: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(0.1)


def rows(room: ReadingRoom) -> list[OutboxItem]:
    with room.db.read() as session:
        return list(session.query(OutboxItem).order_by(OutboxItem.id))


def all_sent(room: ReadingRoom) -> bool:
    return bool(rows(room)) and all(r.state == JobState.DONE.value for r in rows(room))


def read_one(reader: Reader, room: ReadingRoom, **attributes: object) -> str:
    (outcome,) = upload_and_read(reader, room, ("chest.dcm", dicom_bytes(**(ORDERED | attributes))))
    return f"/api/studies/{outcome['study_id']}/report"


def hl7_field(message: Any, segment: str, number: int) -> str:
    return str(message.segment(segment)[number])


def test_reads_and_signatures_reach_the_pacs_ris_and_ehr(login, room: ReadingRoom, receivers: Receivers) -> None:
    res, rad = login("res"), login("rad")
    url = read_one(res, room)
    wait_for(lambda: len(receivers.scp.received) >= 2, "the AI SR and a heatmap capture")
    (ai_sr,) = receivers.scp.of_class(Comprehensive3DSRStorage)
    captures = receivers.scp.of_class(SecondaryCaptureImageStorage)
    assert ai_sr.AccessionNumber == "ACC-77" and captures and all(c.BurnedInAnnotation == "YES" for c in captures)
    assert {c.StudyInstanceUID for c in captures} == {ai_sr.StudyInstanceUID}

    body = {"revision": 1, "findings": "Small right pneumothorax.", "impression": "Pneumothorax."}
    assert res.write("POST", f"{url}/sign", json=body).json()["status"] == "preliminary"
    with room.db.read() as session:  # a resident's preliminary signature stays inside
        assert {r.kind for r in session.query(OutboxItem)} == {"ai_sr", "heatmap"}
    assert rad.write("POST", f"{url}/sign", json=body | {"revision": 2}).json()["status"] == "signed"
    wait_for(
        lambda: receivers.scp.of_class(EnhancedSRStorage) and receivers.mllp.messages and receivers.fhir.resources,
        "the report",
    )
    (first,) = receivers.scp.of_class(EnhancedSRStorage)
    (observer,) = first.VerifyingObserverSequence  # the co-signer: the radiologist who made it final
    assert first.VerificationFlag == "VERIFIED" and str(observer.VerifyingObserverName) == "Dr rad^"
    assert observer.VerifyingOrganization == "St. Olav Hospital"
    (oru,) = receivers.mllp.messages
    assert (hl7_field(oru, "OBR", 25), hl7_field(oru, "OBR", 18), hl7_field(oru, "OBR", 2)) == ("F", "ACC-77", "PLC-1")
    assert "Small right pneumothorax." in str(oru)
    assert receivers.fhir.one("DiagnosticReport")["status"] == "final"

    added = rad.write("POST", f"{url}/addenda", json={"text": "Correction: left side."})
    assert added.status_code == 201  # type: ignore[attr-defined]
    wait_for(
        lambda: len(receivers.scp.of_class(EnhancedSRStorage)) == 2 and len(receivers.mllp.messages) == 2,
        "the addendum",
    )
    wait_for(lambda: receivers.fhir.one("DiagnosticReport")["status"] == "amended", "the amended DiagnosticReport")
    amended = receivers.scp.of_class(EnhancedSRStorage)[1]
    predecessor = amended.PredecessorDocumentsSequence[0].ReferencedSeriesSequence[0].ReferencedSOPSequence[0]
    assert predecessor.ReferencedSOPInstanceUID == first.SOPInstanceUID
    assert amended.SeriesInstanceUID == first.SeriesInstanceUID and amended.InstanceNumber == 2
    assert hl7_field(receivers.mllp.messages[1], "OBR", 25) == "C"
    report = receivers.fhir.one("DiagnosticReport")
    assert report["meta"]["versionId"] == "2" and report["identifier"][0]["value"] == "ACC-77"
    assert len(receivers.fhir.of_type("Observation")) >= 1
    wait_for(lambda: all_sent(room), "every item marked sent")


def test_failing_receivers_are_retried_shown_and_nothing_is_lost(
    login, room: ReadingRoom, receivers: Receivers
) -> None:
    receivers.scp.status, receivers.mllp.answer, receivers.fhir.answer = 0xA700, "silent", "400"
    rad, admin = login("rad"), login("admin")
    url = read_one(rad, room)
    body = {"revision": 1, "findings": "Small right pneumothorax.", "impression": "Pneumothorax."}
    assert rad.write("POST", f"{url}/sign", json=body).status_code == 200  # type: ignore[attr-defined]

    def failing() -> bool:
        by_kind = {r.kind: r for r in rows(room)}
        dicom_retried = all(r.attempts >= 2 for r in rows(room) if r.kind in ("ai_sr", "heatmap", "report_sr"))
        return dicom_retried and by_kind["oru"].attempts >= 2 and by_kind["fhir"].state == JobState.FAILED.value

    wait_for(failing, "failed attempts at every destination")
    for row in rows(room):
        assert row.last_error, row.kind
        if row.kind != "fhir":  # retried with backoff, never given up
            assert row.state in (JobState.QUEUED.value, JobState.RUNNING.value)
    page = admin.client.get("/admin").text
    assert 'id="outbox"' in page and "0xA700" in page and "no ACK within 1 s" in page and "HTTP 400" in page
    assert "set aside" in page and "retrying" in page and f"PACS@127.0.0.1:{receivers.scp.port}" in page

    receivers.scp.status, receivers.mllp.answer, receivers.fhir.answer = 0x0000, "AA", "ok"
    (fhir_row,) = [r for r in rows(room) if r.kind == "fhir"]
    retry = f"/admin/outbox/{fhir_row.id}/retry"
    assert rad.write("POST", retry).status_code == 403  # type: ignore[attr-defined]
    assert admin.client.post(retry, data={}).status_code == 403  # no CSRF token
    retried = admin.client.post(retry, data={"csrf_token": admin.csrf}, follow_redirects=False)
    assert retried.status_code == 303, retried.text
    wait_for(lambda: all_sent(room), "every item sent once the receivers are back")

    sent_dicom = [r.object_uid for r in rows(room) if r.kind in ("ai_sr", "heatmap", "report_sr")]
    assert sorted(str(d.SOPInstanceUID) for d in receivers.scp.received) == sorted(sent_dicom)
    control_ids = {hl7_field(m, "MSH", 10) for m in receivers.mllp.messages}
    assert control_ids == {next(r.object_uid for r in rows(room) if r.kind == "oru")}  # every try the same message
    assert receivers.fhir.one("DiagnosticReport")["status"] == "final"
    with room.db.read() as session:
        (event,) = session.query(AuditEvent).filter(AuditEvent.action == "outbox_retry").all()
        assert event.username == "admin" and event.detail["outbox_item_id"] == fhir_row.id


def test_a_report_that_cannot_be_encoded_is_set_aside_naming_the_field(login, room: ReadingRoom) -> None:
    rad, admin = login("rad"), login("admin")
    url = read_one(rad, room, AccessionNumber="")
    body = {"revision": 1, "findings": "Clear lungs.", "impression": "Normal."}
    assert rad.write("POST", f"{url}/sign", json=body).json()["status"] == "signed"  # the signature stands
    with room.db.read() as session:
        oru = session.query(OutboxItem).filter(OutboxItem.kind == "oru").one()
        assert oru.state == JobState.FAILED.value and oru.payload_text is None
        assert "accession number (OBR-18): empty" in (oru.last_error or "")
        assert outbox.count_by_state(session, oru.destination) == {JobState.FAILED.value: 1}
    assert "accession number (OBR-18): empty" in admin.client.get("/admin").text
