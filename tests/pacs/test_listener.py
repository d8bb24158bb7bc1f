"""The DIMSE listener against a pynetdicom SCU on loopback, with a receiver that only records."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import (
    UID,
    CTImageStorage,
    DeflatedExplicitVRLittleEndian,
    DigitalXRayImageStorageForPresentation,
    JPEG2000Lossless,
    RLELossless,
    SecondaryCaptureImageStorage,
)

from januscxr.io import read_image
from januscxr.pacs import DicomListener, DicomListenerError, Disposition, ListenerConfig, StoreResult
from januscxr.pacs.conformance import RADIOGRAPH_SOP_CLASSES, decodable_transfer_syntaxes
from tests.conftest import cr_dataset
from tests.pacs.conftest import SCP_AE, association, free_port, status_of

pytestmark = pytest.mark.pacs
DX = DigitalXRayImageStorageForPresentation


@dataclass
class RecordingReceiver:
    """Keeps what it was given: the stored files' bytes by name, and the skip reasons."""

    stored: dict[str, bytes] = field(default_factory=dict)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    fail_with: Exception | None = None

    def store(self, path: Path, *, name: str, calling_ae_title: str) -> StoreResult:
        if self.fail_with is not None:
            raise self.fail_with
        self.stored[name] = path.read_bytes()
        return StoreResult(Disposition.STORED)

    def skip(self, *, calling_ae_title: str, reason: str) -> None:
        self.skipped.append((calling_ae_title, reason))


@pytest.fixture
def receiver() -> RecordingReceiver:
    return RecordingReceiver()


def _listen(tmp_path: Path, receiver: RecordingReceiver, **config: object) -> Iterator[DicomListener]:
    listener = DicomListener(
        ListenerConfig(ae_title=SCP_AE, port=free_port(), **config),  # type: ignore[arg-type]
        receiver,
        staging_dir=tmp_path / "staging",
    )
    listener.start()
    try:
        yield listener
    finally:
        listener.stop()


@pytest.fixture
def listener(tmp_path: Path, receiver: RecordingReceiver) -> Iterator[DicomListener]:
    yield from _listen(tmp_path, receiver, allowed_callers=("MODALITY", "ROUTER@127.0.0.1"))


def test_c_echo_succeeds(listener: DicomListener) -> None:
    with association(listener.port) as assoc:
        assert assoc.is_established
        assert status_of(assoc.send_c_echo()) == 0x0000


@pytest.mark.parametrize("calling", ["STRANGER", "modality"])
def test_an_unknown_calling_ae_is_rejected_at_association(listener: DicomListener, calling: str) -> None:
    with association(listener.port, DX, calling=calling) as assoc:
        assert assoc.is_rejected and not assoc.is_established


def test_an_association_calling_another_ae_title_is_rejected(listener: DicomListener) -> None:
    with association(listener.port, DX, called="ANY-SCP") as assoc:
        assert assoc.is_rejected


def test_a_caller_bound_to_a_host_is_accepted_from_it_and_rejected_from_elsewhere(
    tmp_path: Path, receiver: RecordingReceiver
) -> None:
    for listener in _listen(tmp_path, receiver, allowed_callers=("ROUTER@192.0.2.7",)):
        with association(listener.port, calling="ROUTER") as assoc:
            assert assoc.is_rejected
    for listener in _listen(tmp_path, receiver, allowed_callers=("ROUTER@127.0.0.1",)):
        with association(listener.port, calling="ROUTER") as assoc:
            assert assoc.is_established


def test_a_chest_radiograph_is_staged_as_a_dicom_file_and_handed_to_the_receiver(
    listener: DicomListener, receiver: RecordingReceiver, tmp_path: Path
) -> None:
    sent = cr_dataset()
    with association(listener.port, DX) as assoc:
        assert status_of(assoc.send_c_store(sent)) == 0x0000
    received = receiver.stored[f"{sent.SOPInstanceUID}.dcm"]
    staged = tmp_path / "back.dcm"
    staged.write_bytes(received)
    back = pydicom.dcmread(staged)
    assert back.SOPInstanceUID == sent.SOPInstanceUID and back.PixelData == sent.PixelData
    assert back.file_meta.TransferSyntaxUID in {"1.2.840.10008.1.2.1", "1.2.840.10008.1.2"}
    assert list((tmp_path / "staging").iterdir()) == []  # the staged copy is gone once stored


def test_a_corrupt_instance_fails_and_the_same_associations_next_instance_succeeds(
    listener: DicomListener, receiver: RecordingReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    corrupt = cr_dataset()
    corrupt.PixelData = corrupt.PixelData[:1000]  # cut off: the header says 128x120 16-bit pixels
    good = cr_dataset()
    with association(listener.port, DX) as assoc:
        failed = assoc.send_c_store(corrupt)
        assert 0xC000 <= status_of(failed) <= 0xCFFF and "truncated" in failed.ErrorComment
        assert assoc.is_established
        assert status_of(assoc.send_c_store(good)) == 0x0000
    assert list(receiver.stored) == [f"{good.SOPInstanceUID}.dcm"]
    assert any("undecodable" in record.getMessage() for record in caplog.records)


def test_a_ct_instance_is_acknowledged_and_skipped(listener: DicomListener, receiver: RecordingReceiver) -> None:
    ct = cr_dataset(Modality="CT", SOPClassUID=CTImageStorage, BodyPartExamined="ABDOMEN")
    with association(listener.port, CTImageStorage) as assoc:
        assert status_of(assoc.send_c_store(ct)) == 0x0000
    assert receiver.stored == {}
    assert receiver.skipped == [("MODALITY", "SOP Class is CT Image Storage; expected CR or DX Image Storage")]


@pytest.mark.parametrize(
    ("attributes", "reason"),
    [
        ({"Modality": "MR"}, "Modality is MR; expected a radiograph (CR or DX)"),
        ({"BodyPartExamined": "HAND"}, "Body Part Examined is HAND; expected CHEST"),
    ],
)
def test_a_radiograph_class_that_is_not_a_chest_radiograph_is_skipped_with_the_reason(
    listener: DicomListener, receiver: RecordingReceiver, attributes: dict[str, str], reason: str
) -> None:
    with association(listener.port, DX) as assoc:
        assert status_of(assoc.send_c_store(cr_dataset(**attributes))) == 0x0000
    assert receiver.stored == {} and receiver.skipped == [("MODALITY", reason)]


def test_secondary_capture_is_stored_only_when_configured(tmp_path: Path) -> None:
    for accept in (False, True):
        receiver = RecordingReceiver()
        capture = cr_dataset(Modality="OT", SOPClassUID=SecondaryCaptureImageStorage)
        for listener in _listen(tmp_path, receiver, accept_secondary_capture=accept):
            with association(listener.port, SecondaryCaptureImageStorage) as assoc:
                assert status_of(assoc.send_c_store(capture)) == 0x0000
        assert (len(receiver.stored), len(receiver.skipped)) == ((1, 0) if accept else (0, 1))


def test_a_failing_receiver_gives_out_of_resources_so_the_sender_retries(
    listener: DicomListener, receiver: RecordingReceiver, tmp_path: Path
) -> None:
    receiver.fail_with = OSError(28, "No space left on device")
    with association(listener.port, DX) as assoc:
        assert status_of(assoc.send_c_store(cr_dataset())) == 0xA700
    assert list((tmp_path / "staging").iterdir()) == []


def test_radiographs_are_accepted_only_in_syntaxes_januscxr_decodes(listener: DicomListener) -> None:
    assert JPEG2000Lossless in decodable_transfer_syntaxes()
    with association(listener.port, DX, syntax=JPEG2000Lossless) as assoc:
        assert [cx.abstract_syntax for cx in assoc.accepted_contexts if cx.abstract_syntax == DX] == [DX]
    undecodable = UID("1.2.840.10008.1.2.4.110")  # JPEG XL Lossless: no decoder here
    with association(listener.port, *RADIOGRAPH_SOP_CLASSES, syntax=undecodable) as assoc:
        assert not [cx for cx in assoc.accepted_contexts if cx.abstract_syntax in RADIOGRAPH_SOP_CLASSES]


def test_a_busy_port_and_a_bad_ae_title_are_named(tmp_path: Path, listener: DicomListener) -> None:
    busy = DicomListener(ListenerConfig(port=listener.port), RecordingReceiver(), staging_dir=tmp_path / "other")
    with pytest.raises(DicomListenerError, match=f"dicom_port: cannot listen on 127.0.0.1:{listener.port}"):
        busy.start()
    with pytest.raises(DicomListenerError, match="dicom_ae_title: AE title 'A_TITLE_LONGER_THAN_16'"):
        DicomListener(ListenerConfig(ae_title="A_TITLE_LONGER_THAN_16"), RecordingReceiver(), staging_dir=tmp_path)
    with pytest.raises(DicomListenerError, match="dicom_allowed_callers"):
        DicomListener(ListenerConfig(allowed_callers=("BAD\\AE",)), RecordingReceiver(), staging_dir=tmp_path)


@pytest.mark.parametrize("syntax", [RLELossless, JPEG2000Lossless, DeflatedExplicitVRLittleEndian])  # encodable here
def test_a_compressed_radiograph_arrives_as_a_file_januscxr_reads(
    listener: DicomListener, receiver: RecordingReceiver, tmp_path: Path, syntax: UID
) -> None:
    sent = cr_dataset()
    if syntax.is_compressed:
        sent.compress(syntax)
    else:
        sent.file_meta.TransferSyntaxUID = syntax
    with association(listener.port, DX, syntax=syntax) as assoc:
        assert status_of(assoc.send_c_store(sent)) == 0x0000
    staged = tmp_path / "back.dcm"
    staged.write_bytes(receiver.stored[f"{sent.SOPInstanceUID}.dcm"])
    assert pydicom.dcmread(staged).file_meta.TransferSyntaxUID == syntax
    assert np.array_equal(pydicom.dcmread(staged).pixel_array, cr_dataset().pixel_array)
    assert read_image(staged).pixels.shape == (128, 120)
