"""Files that break naive readers, written byte by byte."""

from __future__ import annotations

import struct

from tests.server.conftest import dicom_bytes


def unknown_vr_dicom() -> bytes:
    """A CR whose Patient ID (0010,0020) has the VR "ZZ": pydicom raises NotImplementedError on reading it."""
    good = dicom_bytes(PatientID="PID1")
    element = b"\x10\x00\x20\x00LO\x04\x00PID1"
    assert good.count(element) == 1
    return good.replace(element, b"\x10\x00\x20\x00ZZ\x04\x00PID1")


def length_past_end_dicom() -> bytes:
    """A CR cut inside Rows (0028,0010), whose length (4096) runs past the end of the file:
    pydicom raises BytesLengthException on reading it."""
    good = dicom_bytes()
    rows = good.index(b"\x28\x00\x10\x00US\x02\x00")
    return good[:rows] + b"\x28\x00\x10\x00US" + struct.pack("<H", 4096) + b"\x80\x00\x00"
