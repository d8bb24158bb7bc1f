"""PNG and JPEG reading in every mode a radiograph arrives in."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image as PILImage

from januscxr.io import read_image
from tests.conftest import chest_pixels


def _gray8() -> np.ndarray:
    return (chest_pixels(bits=8)).astype(np.uint8)


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA", "P", "LA"])
def test_8bit_modes_read_as_the_same_gray(tmp_path, mode):
    gray = _gray8()
    reference = read_image(_save(PILImage.fromarray(gray, "L"), tmp_path / "ref.png")).pixels
    converted = PILImage.fromarray(gray, "L").convert(mode)
    pixels = read_image(_save(converted, tmp_path / f"x_{mode}.png")).pixels
    np.testing.assert_allclose(pixels, reference, atol=2 / 255)


def test_16bit_png_is_windowed(tmp_path):
    stored = chest_pixels(bits=12)  # a 12-bit image in a 16-bit container
    path = tmp_path / "x16.png"
    PILImage.fromarray(stored.astype(np.uint16)).save(path)
    assert PILImage.open(path).mode.startswith("I")
    pixels = read_image(path).pixels
    assert pixels.max() > 0.95 and pixels.min() < 0.05  # not a dark image in 0..4095/65535


def test_jpeg_reads(tmp_path):
    path = tmp_path / "x.jpg"
    PILImage.fromarray(_gray8(), "L").save(path, quality=90)
    pixels = read_image(path).pixels
    np.testing.assert_allclose(pixels, _gray8() / 255.0, atol=0.05)


def test_exif_orientation_is_applied(tmp_path):
    gray = _gray8()
    exif = PILImage.Exif()
    exif[0x0112] = 6  # rotate 90 CW on display
    path = tmp_path / "rotated.jpg"
    PILImage.fromarray(gray, "L").save(path, exif=exif, quality=95)
    assert read_image(path).shape == (gray.shape[1], gray.shape[0])


def test_content_decides_format_not_suffix(tmp_path):
    path = tmp_path / "actually_png.dcm"
    PILImage.fromarray(_gray8(), "L").save(path, format="PNG")
    assert read_image(path).shape == _gray8().shape


def _save(image: PILImage.Image, path):
    image.save(path)
    return path
