"""Source images for the DICOM objects januscxr writes: the real CR fixture and a synthetic dataset."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset

from januscxr.io import read_dicom
from januscxr.types import FloatArray
from tests.conftest import DATA, cr_dataset

FIXTURE = DATA / "fixtures" / "dicom" / "RG1_UNCR.dcm"


@pytest.fixture(params=["fixture", "synthetic"])
def source(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Dataset, FloatArray]:
    """(header, display pixels) of a real CR chest (skipped where the shared data is absent) or a synthetic one."""
    if request.param == "fixture":
        if not FIXTURE.is_file():
            pytest.skip(f"fixture DICOM not found at {FIXTURE}")
        path = FIXTURE
    else:  # no patient, study date or accession: the Type 2 attributes must still be written
        path = tmp_path / "synthetic.dcm"
        cr_dataset(PatientOrientation=["P", "F"]).save_as(path, enforce_file_format=True)
    return pydicom.dcmread(path, stop_before_pixels=True), read_dicom(path).pixels


def heatmap(shape: tuple[int, int] = (8, 8)) -> FloatArray:
    """A heatmap hot in the image's left upper quarter (the patient's right apex)."""
    heat = np.zeros(shape, np.float32)
    heat[1:4, 1:3] = 1.0
    return heat


def dciodvfy(dataset: Dataset, path: Path) -> list[str]:
    """Write ``dataset`` and return dciodvfy's messages (errors and warnings), checked to contain no error."""
    if shutil.which("dciodvfy") is None:
        pytest.skip("dciodvfy (Debian dicom3tools) is not installed")
    dataset.save_as(path, enforce_file_format=True)
    run = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, timeout=60, check=False)
    messages = [
        line.strip() for line in (run.stdout + run.stderr).splitlines() if line.startswith(("Error", "Warning"))
    ]
    errors = [m for m in messages if m.startswith("Error")]
    assert not errors, f"dciodvfy found errors in {path.name}: {errors}"
    return messages
