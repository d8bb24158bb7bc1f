"""Heatmap Secondary Captures: one per flagged finding, warning burnt in, dciodvfy-clean."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset

from januscxr.interop import HEATMAP_WARNING, Algorithm, DicomEncodingError, heatmap_capture, heatmap_captures
from januscxr.interop.heatmap_sc import burn_in_caption
from januscxr.io import read_dicom
from januscxr.io.overlay import heatmap_overlay
from januscxr.labels import Finding
from januscxr.types import FindingResult, FloatArray
from tests.conftest import cr_dataset
from tests.interop.conftest import dciodvfy, heatmap

ALGORITHM = Algorithm("cxrnet-res128-kermany-nih", "2026.11.27")


def test_one_capture_per_flagged_finding(source: tuple[Dataset, FloatArray], tmp_path: Path) -> None:
    header, pixels = source
    results = [
        FindingResult(Finding.PNEUMOTHORAX, 0.81, 0.3, heatmap=heatmap()),
        FindingResult(Finding.PLEURAL_EFFUSION, 0.41, 0.3, heatmap=heatmap()),
        FindingResult(Finding.PNEUMONIA, 0.1, 0.3),  # not flagged: no heatmap, no capture
    ]
    captures = heatmap_captures(header, pixels, results, ALGORITHM)
    assert len(captures) == 2
    assert len({c.SeriesInstanceUID for c in captures}) == 1
    assert [c.InstanceNumber for c in captures] == [1, 2]
    for number, capture in enumerate(captures):
        messages = dciodvfy(capture, tmp_path / f"sc{number}.dcm")
        back = pydicom.dcmread(tmp_path / f"sc{number}.dcm")
        assert back.SOPClassUID == "1.2.840.10008.5.1.4.1.1.7"  # Secondary Capture Image Storage
        assert back.StudyInstanceUID == header.StudyInstanceUID
        assert back.SeriesInstanceUID != header.SeriesInstanceUID
        assert back.SeriesDescription == HEATMAP_WARNING == "AI heatmap - not for diagnostic use"
        assert back.BurnedInAnnotation == "YES"
        assert back.PhotometricInterpretation == "RGB" and back.pixel_array.shape[-1] == 3
        assert back.SourceImageSequence[0].ReferencedSOPInstanceUID == header.SOPInstanceUID
        assert results[number].finding.value in back.ImageComments
        print("\n".join(messages))


def test_warning_is_in_the_pixels(source: tuple[Dataset, FloatArray]) -> None:
    """The banner above the film holds text (yellow pixels); the film itself is kept whole below it."""
    header, pixels = source
    result = FindingResult(Finding.PNEUMOTHORAX, 0.81, 0.3, heatmap=heatmap())
    rgb = heatmap_capture(header, pixels, result, ALGORITHM).pixel_array
    film = np.asarray(heatmap_overlay(pixels, heatmap()))
    banner = rgb.shape[0] - film.shape[0]
    assert banner > 0 and np.array_equal(rgb[banner:], film)
    yellow = (rgb[:banner, :, 0] > 200) & (rgb[:banner, :, 1] > 200) & (rgb[:banner, :, 2] < 80)
    assert yellow.sum() > 50
    plain = np.asarray(burn_in_caption(heatmap_overlay(pixels, heatmap()), []))
    assert not ((plain[..., 0] > 200) & (plain[..., 1] > 200) & (plain[..., 2] < 80))[:8].any()


def test_result_without_heatmap_is_named(source: tuple[Dataset, FloatArray]) -> None:
    header, pixels = source
    with pytest.raises(DicomEncodingError, match="^heatmap of Pneumothorax: none"):
        heatmap_capture(header, pixels, FindingResult(Finding.PNEUMOTHORAX, 0.8, 0.3), ALGORITHM)


def test_a_source_without_patient_orientation_gets_an_empty_one(tmp_path: Path) -> None:
    """Many CR headers carry no Patient Orientation: the capture says nothing rather than guess."""
    path = tmp_path / "no-orientation.dcm"
    cr_dataset().save_as(path, enforce_file_format=True)
    header = pydicom.dcmread(path, stop_before_pixels=True)
    assert "PatientOrientation" not in header
    result = FindingResult(Finding.PNEUMOTHORAX, 0.81, 0.3, heatmap=heatmap())
    capture = heatmap_capture(header, read_dicom(path).pixels, result, ALGORITHM)
    dciodvfy(capture, tmp_path / "sc.dcm")
    assert pydicom.dcmread(tmp_path / "sc.dcm").PatientOrientation in (None, "")
