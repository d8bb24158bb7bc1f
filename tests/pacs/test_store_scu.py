"""The DICOM senders against a real Orthanc (C-STORE and STOW-RS), read back and compared; and refusing peers."""

from __future__ import annotations

import dataclasses
import io
import socket
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pydicom
import pytest
import requests
from pydicom.dataset import Dataset
from pynetdicom import AE, evt
from pynetdicom.sop_class import Comprehensive3DSRStorage, EnhancedSRStorage, SecondaryCaptureImageStorage

from januscxr.errors import ConfigurationError, DeliveryError
from januscxr.interop import Signature, SignedAddendum, ai_result_sr, heatmap_captures, report_sr
from januscxr.io import read_dicom
from januscxr.pacs.store_scu import (
    DicomDestination,
    StowDestination,
    parse_dicom_destination,
    send_cstore,
    send_stow,
)
from tests.conftest import cr_dataset
from tests.interop.conftest import heatmap
from tests.interop.outgoing import ALGORITHM, RESULTS
from tests.pacs.conftest import free_port
from tests.pacs.orthanc import OrthancServer, run_orthanc

pytestmark = pytest.mark.pacs

FINDINGS = "Right apical pneumothorax, 2 cm."
IMPRESSION = "Pneumothorax."
SIGNER = Signature(name="Smith^Jane", organization="St. Olav Hospital", signed_at=datetime(2026, 11, 29, 10, 15))


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrthancServer]:
    with run_orthanc(tmp_path_factory.mktemp("orthanc")) as server:
        yield server


def objects(folder: Path) -> dict[str, Path]:
    """An AI SR, a heatmap capture and a report SR of one synthetic chest image, written to ``folder``."""
    source_path = folder / "source.dcm"
    cr_dataset(
        AccessionNumber="ACC-1", PatientID="PAT-1", PatientName="Doe^Ann", PatientOrientation=["P", "F"]
    ).save_as(source_path, enforce_file_format=True)
    source = pydicom.dcmread(source_path, stop_before_pixels=True)
    pixels = read_dicom(source_path).pixels
    results = [dataclasses.replace(RESULTS[0], heatmap=heatmap()), *RESULTS[1:]]
    built = {
        "ai_sr": ai_result_sr(source, results, ALGORITHM),
        "heatmap": heatmap_captures(source, pixels, results, ALGORITHM)[0],
        "report_sr": report_sr(source, findings=FINDINGS, impression=IMPRESSION, signature=SIGNER),
    }
    paths = {"source": source_path}
    for name, dataset in built.items():
        dataset.save_as(folder / f"{name}.dcm", enforce_file_format=True)
        paths[name] = folder / f"{name}.dcm"
    return paths


def read_back(orthanc: OrthancServer, sop_instance_uid: str) -> Dataset:
    response = requests.post(f"{orthanc.http_url}/tools/lookup", data=sop_instance_uid, auth=orthanc.auth, timeout=30)
    response.raise_for_status()
    (match,) = [m for m in response.json() if m["Type"] == "Instance"]
    raw = requests.get(f"{orthanc.http_url}/instances/{match['ID']}/file", auth=orthanc.auth, timeout=30)
    raw.raise_for_status()
    return pydicom.dcmread(io.BytesIO(raw.content))


def content_items(dataset: Dataset) -> Iterator[Dataset]:
    for item in dataset.get("ContentSequence", []):
        yield item
        yield from content_items(item)


def measurements(sr: Dataset) -> dict[str, list[float]]:
    """Each finding's numeric measurements (probability, threshold) in the TID 1500 SR."""
    found: dict[str, list[float]] = {}
    for group in content_items(sr):
        if group.get("ValueType") != "CONTAINER" or group.ConceptNameCodeSequence[0].CodeValue != "125007":
            continue
        finding = next(i for i in group.ContentSequence if i.ConceptNameCodeSequence[0].CodeValue == "121071")
        name = finding.ConceptCodeSequence[0].CodeMeaning
        found[name] = [
            float(i.MeasuredValueSequence[0].NumericValue) for i in group.ContentSequence if i.ValueType == "NUM"
        ]
    return found


def texts(sr: Dataset) -> list[str]:
    """The report's text items (findings, impression, addenda), not the observers' names."""
    sections = {"121071", "121073", "55107-7"}  # Finding, Impression (DCM), Addendum (LN)
    return [
        str(i.TextValue)
        for i in content_items(sr)
        if i.get("ValueType") == "TEXT" and i.ConceptNameCodeSequence[0].CodeValue in sections
    ]


def check_stored(orthanc: OrthancServer, paths: dict[str, Path]) -> None:
    source = pydicom.dcmread(paths["source"], stop_before_pixels=True)
    ai = read_back(orthanc, pydicom.dcmread(paths["ai_sr"]).SOPInstanceUID)
    assert ai.SOPClassUID == Comprehensive3DSRStorage and ai.StudyInstanceUID == source.StudyInstanceUID
    by_meaning = measurements(ai)
    for result in RESULTS:
        (values,) = [v for name, v in by_meaning.items() if name == result.finding.code.meaning]
        assert values == pytest.approx([result.probability, result.threshold])
    referenced = {
        str(i.ReferencedSOPInstanceUID)
        for e in ai.CurrentRequestedProcedureEvidenceSequence
        for s in e.ReferencedSeriesSequence
        for i in s.ReferencedSOPSequence
    }
    assert referenced == {source.SOPInstanceUID}
    capture = read_back(orthanc, pydicom.dcmread(paths["heatmap"]).SOPInstanceUID)
    assert capture.SOPClassUID == SecondaryCaptureImageStorage and capture.BurnedInAnnotation == "YES"
    assert capture.SourceImageSequence[0].ReferencedSOPInstanceUID == source.SOPInstanceUID
    assert "not for diagnostic use" in capture.SeriesDescription
    report = read_back(orthanc, pydicom.dcmread(paths["report_sr"]).SOPInstanceUID)
    assert report.SOPClassUID == EnhancedSRStorage and report.VerificationFlag == "VERIFIED"
    assert texts(report) == [FINDINGS, IMPRESSION]
    assert str(report.VerifyingObserverSequence[0].VerifyingObserverName) == "Smith^Jane"
    assert report.AccessionNumber == "ACC-1" and report.PatientID == "PAT-1"


def test_cstore_to_orthanc_and_read_back(orthanc: OrthancServer, tmp_path: Path) -> None:
    paths = objects(tmp_path)
    destination = parse_dicom_destination(f"{orthanc.aet}@127.0.0.1:{orthanc.dicom_port}", calling_ae_title="JANUSCXR")
    for name in ("ai_sr", "heatmap", "report_sr"):
        assert send_cstore(paths[name], destination) == 0x0000
    check_stored(orthanc, paths)
    assert send_cstore(paths["ai_sr"], destination) == 0x0000  # again: the same SOP Instance UID, stored once
    uid = pydicom.dcmread(paths["ai_sr"]).SOPInstanceUID
    assert sum(1 for i in orthanc.get("/instances?expand") if i["MainDicomTags"]["SOPInstanceUID"] == uid) == 1


def test_stow_to_orthanc_with_authentication_and_read_back(orthanc: OrthancServer, tmp_path: Path) -> None:
    paths = objects(tmp_path)
    stow = StowDestination(orthanc.dicomweb_url, username=orthanc.username, password=orthanc.password)
    for name in ("ai_sr", "heatmap", "report_sr"):
        send_stow(paths[name], stow)
    check_stored(orthanc, paths)
    wrong = StowDestination(orthanc.dicomweb_url, username=orthanc.username, password="wrong")
    with pytest.raises(DeliveryError, match="HTTP 401") as refused:
        send_stow(paths["ai_sr"], wrong)
    assert refused.value.retryable  # credentials can be fixed; the item waits for them


def test_destination_entries_are_checked() -> None:
    parsed = parse_dicom_destination("PACS@10.0.0.5:104", calling_ae_title="JANUSCXR")
    assert (parsed.ae_title, parsed.host, parsed.port, parsed.name) == (
        "PACS",
        "10.0.0.5",
        104,
        "dicom:PACS@10.0.0.5:104",
    )
    for bad in ("PACS", "PACS@host", "PACS@host:0", "A_TITLE_LONGER_THAN_16@h:104", "@h:104"):
        with pytest.raises(ConfigurationError, match="outbound_dicom"):
            parse_dicom_destination(bad, calling_ae_title="JANUSCXR")
    with pytest.raises(ConfigurationError, match="outbound_stow_url"):
        StowDestination("ftp://pacs")


def refusing_scp(status: int) -> tuple[Any, int]:
    """A pynetdicom storage SCP answering every C-STORE with ``status``."""
    ae = AE(ae_title="REFUSER")
    for sop_class in (Comprehensive3DSRStorage, EnhancedSRStorage, SecondaryCaptureImageStorage):
        ae.add_supported_context(sop_class)
    port = free_port()
    server = ae.start_server(("127.0.0.1", port), block=False, evt_handlers=[(evt.EVT_C_STORE, lambda event: status)])
    return server, port


@pytest.mark.parametrize("status", [0xA700, 0xC000])
def test_cstore_failure_status_is_retryable(tmp_path: Path, status: int) -> None:
    paths = objects(tmp_path)
    server, port = refusing_scp(status)
    try:
        with pytest.raises(DeliveryError, match=f"status 0x{status:04X}") as failed:
            send_cstore(paths["ai_sr"], DicomDestination("REFUSER", "127.0.0.1", port, timeout_s=5))
    finally:
        server.shutdown()
    assert failed.value.retryable


def test_cstore_warning_status_counts_as_stored(tmp_path: Path) -> None:
    paths = objects(tmp_path)
    server, port = refusing_scp(0xB000)
    try:
        assert send_cstore(paths["report_sr"], DicomDestination("REFUSER", "127.0.0.1", port, timeout_s=5)) == 0xB000
    finally:
        server.shutdown()


def test_cstore_to_nobody_or_a_silent_peer_is_retryable(tmp_path: Path) -> None:
    paths = objects(tmp_path)
    with pytest.raises(DeliveryError, match="association") as refused:
        send_cstore(paths["ai_sr"], DicomDestination("NOBODY", "127.0.0.1", free_port(), timeout_s=2))
    assert refused.value.retryable
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    accepted: list[socket.socket] = []
    threading.Thread(target=lambda: accepted.append(silent.accept()[0]), daemon=True).start()
    try:
        with pytest.raises(DeliveryError, match="association") as timed_out:
            send_cstore(paths["ai_sr"], DicomDestination("SILENT", "127.0.0.1", silent.getsockname()[1], timeout_s=1))
    finally:
        for connection in accepted:
            connection.close()
        silent.close()
    assert timed_out.value.retryable


def test_stow_nonsense_answer_is_retryable(tmp_path: Path) -> None:
    from tests.pacs.fhir_server import fhir_server  # any HTTP server answering HTML to a POST

    paths = objects(tmp_path)
    with fhir_server(answer="garbage") as store, pytest.raises(DeliveryError) as nonsense:
        send_stow(paths["ai_sr"], StowDestination(store.url.removesuffix("/fhir"), timeout_s=5))
    assert nonsense.value.retryable


def test_report_sr_with_addendum_names_its_predecessor(orthanc: OrthancServer, tmp_path: Path) -> None:
    paths = objects(tmp_path)
    source = pydicom.dcmread(paths["source"], stop_before_pixels=True)
    first = pydicom.dcmread(paths["report_sr"])
    addendum = SignedAddendum(
        "Correction: left.", Signature("Picard^Jean", "St. Olav Hospital", datetime(2026, 11, 30))
    )
    amended = report_sr(
        source, findings=FINDINGS, impression=IMPRESSION, signature=SIGNER, addenda=[addendum], previous=first
    )
    amended.save_as(tmp_path / "amended.dcm", enforce_file_format=True)
    destination = DicomDestination(orthanc.aet, "127.0.0.1", orthanc.dicom_port)
    send_cstore(paths["report_sr"], destination)
    send_cstore(tmp_path / "amended.dcm", destination)
    stored = read_back(orthanc, amended.SOPInstanceUID)
    predecessor = stored.PredecessorDocumentsSequence[0].ReferencedSeriesSequence[0].ReferencedSOPSequence[0]
    assert predecessor.ReferencedSOPInstanceUID == first.SOPInstanceUID
    assert texts(stored) == [FINDINGS, IMPRESSION, "Correction: left."]
