"""A free loopback port, DCMTK's command-line tools, and a pynetdicom SCU."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from pydicom.dataset import Dataset
from pydicom.uid import UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE
from pynetdicom.association import Association

SCP_AE = "JANUSCXR"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def dcmtk_tool(name: str) -> str:
    """DCMTK's ``name`` (pynetdicom installs Python tools of the same names); skip where absent."""
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        candidate = shutil.which(name, path=folder)
        if candidate is None:
            continue
        version = subprocess.run([candidate, "--version"], capture_output=True, text=True, check=False)
        if "dcmtk" in (version.stdout + version.stderr).lower():
            return candidate
    pytest.skip(f"DCMTK's {name} is not installed (apt-get install -y dcmtk)")


@contextmanager
def association(
    port: int, *sop_classes: UID, calling: str = "MODALITY", called: str = SCP_AE, syntax: UID | None = None
) -> Iterator[Association]:
    """An association from ``calling`` to the listener on ``port``, released afterwards."""
    ae = AE(ae_title=calling)
    ae.add_requested_context(UID("1.2.840.10008.1.1"))
    for sop_class in sop_classes:
        ae.add_requested_context(sop_class, [syntax] if syntax else [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
    assoc = ae.associate("127.0.0.1", port, ae_title=called)
    try:
        yield assoc
    finally:
        if assoc.is_established:
            assoc.release()


def status_of(response: Dataset) -> int:
    assert "Status" in response, response
    return int(response.Status)


def write_file(dataset: Dataset, path: Path) -> Path:
    dataset.save_as(path, enforce_file_format=True)
    return path
