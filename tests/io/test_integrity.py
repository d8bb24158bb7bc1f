"""Pixel Data that disagrees with its header, truncated files and malformed header elements."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from pydicom.dataelem import RawDataElement
from pydicom.tag import Tag
from pydicom.uid import JPEG2000Lossless

from januscxr.errors import ImageReadError
from januscxr.io import read_dicom, read_header, read_image
from tests.conftest import chest_pixels, cr_dataset


def test_truncated_native_pixel_data_says_how_many_bytes(write_cr):
    path = write_cr(chest_pixels(128, 120))
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(ImageReadError, match=r"truncated: Pixel Data has 30717 bytes, expected 30720") as raised:
        read_image(path)
    assert "\n" not in str(raised.value)


def test_rows_that_disagree_with_the_pixel_data_are_refused(tmp_path):
    dataset = cr_dataset(chest_pixels(128, 120))
    dataset.Rows, dataset.Columns = 977, 2  # read as a 977x2 image before
    path = tmp_path / "rows.dcm"
    dataset.save_as(path, enforce_file_format=True)
    with pytest.raises(ImageReadError, match=r"rows.dcm: Pixel Data has 30720 bytes but .* say 3908"):
        read_image(path)


def test_truncated_jpeg2000_is_called_truncated(tmp_path):
    dataset = cr_dataset(chest_pixels(256, 256))
    dataset.compress(JPEG2000Lossless)
    path = tmp_path / "cut.dcm"
    dataset.save_as(path, enforce_file_format=True)
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.warns(UserWarning, match="End of file"), pytest.raises(ImageReadError, match="cut.dcm: truncated"):
        read_image(path)


def _with_raw(path, keyword: str, vr: str, value: bytes) -> None:
    """Replace one element of the file at ``path`` with raw bytes of the given VR."""
    dataset = pydicom.dcmread(path)
    tag = Tag(keyword)
    dataset[tag] = RawDataElement(tag, vr, len(value), value, 0, False, True)
    dataset.save_as(path)


@pytest.mark.parametrize(
    ("keyword", "vr", "value", "named"),
    [
        ("Rows", "US", b"\x01", "Rows"),  # one byte of a two-byte number
        ("Rows", "FD", b"\x00" * 8, "Rows"),  # a float where an integer belongs
        ("NumberOfFrames", "IS", b"two ", "NumberOfFrames"),
        ("PatientOrientation", "SQ", b"\x01\x02\x03\x04", "PatientOrientation"),
        ("BitsAllocated", "UL", b"\x10\x00", "BitsAllocated"),
        ("PhotometricInterpretation", "US", b"\x01\x00", "Photometric Interpretation"),
    ],
)
def test_a_malformed_element_is_named(write_cr, keyword, vr, value, named):
    path = write_cr()
    _with_raw(path, keyword, vr, value)
    with pytest.raises(ImageReadError, match=rf"{path.name}: .*{named}") as raised:
        read_dicom(path)
    assert "\n" not in str(raised.value)


def test_unparseable_optional_values_are_left_out(write_cr):
    path = write_cr()
    _with_raw(path, "PixelSpacing", "DS", b"0.2\\abc ")
    _with_raw(path, "PatientAge", "AS", b"\xff\xfe")
    image = read_dicom(path)
    assert image.pixel_spacing_mm is None and image.patient_age_years is None


def test_header_and_image_agree_on_the_shared_attributes(write_cr):
    path = write_cr(ViewPosition="AP", PatientAge="030Y", PatientSex="M")
    header, image = read_header(path), read_image(path)
    assert header.study_instance_uid == image.study_instance_uid and header.view_position is image.view_position
    assert header.patient_age_years == image.patient_age_years == 30.0 and header.patient_sex is image.patient_sex
    assert (header.rows, header.columns) == image.shape


def test_every_readable_fixture_still_reads(shared_data):
    for name in ("RG1_UNCR.dcm", "RG1_J2KR.dcm"):
        image = read_image(shared_data / "fixtures" / "dicom" / name)
        assert image.shape == (1955, 1841) and np.isfinite(image.pixels).all()
