"""Shared fixtures: synthetic DICOM writers, the shared data folder, tiny models."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("JANUSCXR_DATA", REPO.parent / "shared" / "data"))
DIGITAL_XRAY_STORAGE = "1.2.840.10008.5.1.4.1.1.1.1"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "real_gate: read through the bundled chest-radiograph gate, not fake-gate")


@pytest.fixture(autouse=True)
def _fake_gate_unless_marked(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Synthetic images are not chest radiographs: tests about something else read them through fake-gate.

    The default gate of ``januscxr.pipeline`` (Python API, reading room) and of the CLI
    (``JANUSCXR_GATE``, inherited by subprocesses) becomes fake-gate; tests marked
    ``real_gate`` keep the bundled gate, and a ``gate=`` argument always wins.
    """
    if request.node.get_closest_marker("real_gate"):
        return
    monkeypatch.setattr("januscxr.pipeline.DEFAULT_GATE", "fake-gate")
    monkeypatch.setenv("JANUSCXR_GATE", "fake-gate")


@pytest.fixture
def shared_data() -> Path:
    """../shared/data, or skip where it is absent."""
    if not DATA.is_dir():
        pytest.skip(f"shared data not found at {DATA} (set JANUSCXR_DATA)")
    return DATA


def chest_pixels(rows: int = 128, columns: int = 120, bits: int = 12) -> np.ndarray:
    """A synthetic frontal chest: bright mediastinum and ribs, dark lungs, a vertical gradient."""
    y, x = np.mgrid[0:rows, 0:columns].astype(np.float32)
    lungs = np.exp(-(((x - columns * 0.3) / (columns * 0.14)) ** 2 + ((y - rows * 0.5) / (rows * 0.3)) ** 2))
    lungs += np.exp(-(((x - columns * 0.7) / (columns * 0.14)) ** 2 + ((y - rows * 0.5) / (rows * 0.3)) ** 2))
    body = 0.8 - 0.6 * lungs + 0.1 * (y / rows)
    return np.round(np.clip(body, 0, 1) * (2**bits - 1)).astype(np.uint16)


def cr_dataset(
    pixels: np.ndarray | None = None,
    *,
    photometric: str = "MONOCHROME2",
    bits_stored: int = 12,
    **attributes: object,
) -> Dataset:
    """A minimal valid CR chest dataset around ``pixels`` (uint16 (H, W) or (F, H, W))."""
    pixels = chest_pixels(bits=bits_stored) if pixels is None else pixels
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = DIGITAL_XRAY_STORAGE
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = DIGITAL_XRAY_STORAGE
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = "CR"
    ds.BodyPartExamined = "CHEST"
    ds.ViewPosition = "PA"
    ds.PatientAge = "045Y"
    ds.PatientSex = "F"
    ds.PixelSpacing = [0.2, 0.2]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    if pixels.ndim == 3:
        ds.NumberOfFrames = pixels.shape[0]
    ds.Rows, ds.Columns = pixels.shape[-2:]
    ds.BitsAllocated = 16
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = 0
    ds.PixelData = pixels.astype(np.uint16).tobytes()
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    return ds


@pytest.fixture
def write_cr(tmp_path: Path) -> Callable[..., Path]:
    """Write :func:`cr_dataset` to a file and return its path."""
    counter = iter(range(10_000))

    def write(pixels: np.ndarray | None = None, name: str | None = None, **kwargs: object) -> Path:
        path = tmp_path / (name or f"cr{next(counter)}.dcm")
        cr_dataset(pixels, **kwargs).save_as(path, enforce_file_format=True)
        return path

    return write


@pytest.fixture(scope="session")
def tiny_janus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Janus checkpoint in the Hugging Face layout (converted from DeepSeek's)."""
    from tests.models.janus_tiny import write_tiny_janus

    return write_tiny_janus(tmp_path_factory.mktemp("janus") / "tiny")


@pytest.fixture(scope="session")
def tiny_janus(tiny_janus_dir: Path):
    """The tiny checkpoint loaded on CPU in float32, shared by the tests that only read it."""
    from januscxr.models.janus import load_janus

    return load_janus(tiny_janus_dir, device="cpu", precision="float32", name="tiny-janus")


def random_image(seed: int = 0, shape: tuple[int, int] = (48, 40)):
    """A grayscale :class:`januscxr.types.Image` of random pixels."""
    from januscxr.types import Image

    pixels = np.random.default_rng(seed).random(shape).astype(np.float32)
    return Image(pixels=pixels, source=f"random-{seed}.png")
