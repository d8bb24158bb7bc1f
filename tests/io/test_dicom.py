"""DICOM reading: LUTs, windowing, inversion, compression, metadata, multi-frame."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.uid import RLELossless

from januscxr.errors import ImageReadError
from januscxr.io import read_dicom, read_image
from januscxr.io.dicom import parse_age_string
from januscxr.types import PatientSex, ViewPosition
from tests.conftest import chest_pixels, cr_dataset


def test_metadata_is_kept(write_cr):
    path = write_cr(ViewPosition="AP", PatientAge="006M", PatientSex="M", ImageLaterality="L")
    image = read_image(path)
    source = pydicom.dcmread(path)
    assert image.study_instance_uid == source.StudyInstanceUID
    assert image.series_instance_uid == source.SeriesInstanceUID
    assert image.sop_instance_uid == source.SOPInstanceUID
    assert image.view_position is ViewPosition.AP
    assert image.patient_age_years == pytest.approx(0.5)
    assert image.patient_sex is PatientSex.M
    assert image.pixel_spacing_mm == (0.2, 0.2)
    assert image.modality == "CR" and image.body_part_examined == "CHEST"
    assert image.image_laterality == "L"
    assert image.shape == (128, 120)


def test_pixels_are_unit_floats_with_bone_bright(write_cr):
    image = read_image(write_cr())
    assert image.pixels.dtype == np.float32
    assert image.pixels.min() >= 0.0 and image.pixels.max() <= 1.0
    # lungs (dark) darker than the mediastinum (bright)
    assert image.pixels[64, 36] < image.pixels[64, 60]


def test_monochrome1_is_inverted(write_cr):
    stored = chest_pixels()
    normal = read_image(write_cr(stored, photometric="MONOCHROME2")).pixels
    inverted = read_image(write_cr(4095 - stored, photometric="MONOCHROME1")).pixels
    np.testing.assert_allclose(normal, inverted, atol=1e-5)


def test_window_center_width_is_applied(write_cr):
    stored = np.tile(np.arange(0, 4096, 32, dtype=np.uint16), (128, 1))  # (128, 128) ramp
    image = read_image(write_cr(stored, WindowCenter=2048, WindowWidth=1024))
    row = image.pixels[0]
    assert row[stored[0] <= 1536].max() == 0.0  # below the window: black
    assert row[stored[0] >= 2560].min() == 1.0  # above: white
    inside = (stored[0] > 1600) & (stored[0] < 2500)
    assert np.all(np.diff(row[inside]) > 0)


def test_rescale_slope_intercept_goes_before_the_window(write_cr):
    stored = np.tile(np.arange(0, 4096, 32, dtype=np.uint16), (128, 1))
    # value = 2 * stored - 1000, window 3000 +/- 500 covers stored 1750..2250
    image = read_image(write_cr(stored, RescaleSlope=2, RescaleIntercept=-1000, WindowCenter=3000, WindowWidth=1000))
    row = image.pixels[0]
    assert row[stored[0] <= 1740].max() == 0.0
    assert row[stored[0] >= 2260].min() == 1.0


def test_absurd_window_falls_back_to_auto_window(write_cr):
    image = read_image(write_cr(WindowCenter=900000, WindowWidth=2))
    assert image.pixels.std() > 0.05


@pytest.mark.parametrize("bits", [8, 10, 12, 14, 15, 16])
def test_bits_stored_8_to_16(write_cr, bits):
    stored = chest_pixels(bits=bits)
    image = read_image(write_cr(stored, bits_stored=bits))
    assert image.pixels.max() > 0.9 and image.pixels.min() < 0.4


def test_multiframe_reads_first_frame_with_warning(write_cr):
    first = chest_pixels()
    frames = np.stack([first, 4095 - first])
    with pytest.warns(UserWarning, match="2 frames; reading the first"):
        image = read_image(write_cr(frames))
    np.testing.assert_allclose(image.pixels, read_image(write_cr(first)).pixels, atol=1e-5)


def test_rle_write_then_read_back(write_cr, tmp_path):
    source = cr_dataset()
    expected = read_image(write_cr()).pixels
    source.compress(RLELossless)
    path = tmp_path / "rle.dcm"
    source.save_as(path, enforce_file_format=True)
    assert pydicom.dcmread(path).file_meta.TransferSyntaxUID == RLELossless
    np.testing.assert_allclose(read_image(path).pixels, expected, atol=1e-6)


@pytest.mark.parametrize(
    "name",
    ["MR_small_RLE.dcm", "MR_small_jpeg_ls_lossless.dcm", "MR_small_jp2klossless.dcm"],
)
def test_lossless_codecs_decode_to_the_uncompressed_pixels(tmp_path, name):
    """pydicom's own test objects, relabelled as chest CR so our reader accepts them."""
    reference = _as_chest(get_testdata_file("MR_small.dcm"), tmp_path / "raw.dcm")
    compressed = _as_chest(get_testdata_file(name), tmp_path / name)
    np.testing.assert_allclose(read_dicom(compressed).pixels, read_dicom(reference).pixels, atol=1e-6)


@pytest.mark.parametrize("name", ["JPGExtended.dcm", "SC_rgb_jpeg_dcmtk.dcm", "SC_rgb_small_odd_jpeg.dcm"])
def test_lossy_jpeg_decodes(tmp_path, name):
    image = read_dicom(_as_chest(get_testdata_file(name), tmp_path / name))
    assert image.pixels.ndim == 2 and image.pixels.std() > 0.01


def test_undecodable_jpeg_is_a_read_error(tmp_path):
    # pydicom's JPEG-lossy.dcm carries a misplaced marker segment that libjpeg refuses
    path = _as_chest(get_testdata_file("JPEG-lossy.dcm"), tmp_path / "broken.dcm")
    with pytest.raises(ImageReadError, match="broken.dcm: cannot decode Pixel Data"):
        read_dicom(path)


def test_fixture_j2k_matches_uncompressed(shared_data):
    folder = shared_data / "fixtures" / "dicom"
    j2k = read_dicom(folder / "RG1_J2KR.dcm")
    raw = read_dicom(folder / "RG1_UNCR.dcm")
    assert j2k.view_position is ViewPosition.PA
    np.testing.assert_allclose(j2k.pixels, raw.pixels, atol=1e-6)


def test_patient_orientation_sets_display_direction(write_cr):
    assert read_image(write_cr(PatientOrientation=["L", "F"])).column_toward_patient_left
    assert not read_image(write_cr(PatientOrientation=["R", "F"])).column_toward_patient_left


@pytest.mark.parametrize(
    ("text", "years"),
    [("045Y", 45.0), ("006M", 0.5), ("052W", 0.997), ("003D", 0.008), ("", None), ("4Y5", None), (None, None)],
)
def test_age_string(text, years):
    assert parse_age_string(text) == (pytest.approx(years, abs=1e-3) if years is not None else None)


def _as_chest(source: str | None, target: Path) -> Path:
    assert source is not None
    ds = pydicom.dcmread(source)
    ds.Modality = "CR"
    ds.BodyPartExamined = "CHEST"
    ds.save_as(target, enforce_file_format=True)
    return target
