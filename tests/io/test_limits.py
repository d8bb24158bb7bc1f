"""The pixel limit (refused before decoding) and reduced-resolution decoding of large images."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image as PILImage
from pydicom.uid import JPEG2000Lossless

from januscxr.errors import ImageTooLargeError
from januscxr.io import DEFAULT_MAX_PIXELS, pixel_limit, read_dicom, read_header, read_image, read_raster
from tests.conftest import chest_pixels, cr_dataset


def png_declaring(path: Path, columns: int, rows: int) -> Path:
    """A few hundred bytes of PNG whose IHDR declares ``columns`` x ``rows`` 8-bit gray pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", columns, rows, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 4096)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


def jpeg_declaring(path: Path, columns: int, rows: int) -> Path:
    """A small JPEG whose SOF0 marker is rewritten to declare ``columns`` x ``rows``."""
    PILImage.fromarray(chest_pixels(64, 64, bits=8).astype(np.uint8)).save(path, quality=80)
    data = bytearray(path.read_bytes())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", rows, columns)
    path.write_bytes(bytes(data))
    return path


def test_default_limit_admits_the_largest_radiographs():
    assert max(4300 * 4300, 3000 * 9000) < DEFAULT_MAX_PIXELS


@pytest.mark.parametrize("side", [19_000, 30_000])
def test_png_bomb_is_refused_before_decoding(tmp_path, side):
    path = png_declaring(tmp_path / "bomb.png", side, side)
    assert path.stat().st_size < 1000
    with pytest.raises(ImageTooLargeError) as raised:
        read_image(path)
    message = str(raised.value)
    assert f"bomb.png: image is {side}x{side} px" in message and "limit is 60 megapixels" in message
    assert "\n" not in message


def test_jpeg_bomb_is_refused_before_decoding(tmp_path):
    path = jpeg_declaring(tmp_path / "bomb.jpg", 60_000, 50_000)
    with pytest.raises(ImageTooLargeError, match=r"bomb.jpg: image is 60000x50000 px \(3000.0 megapixels\)"):
        read_image(path)


def test_pillows_own_bomb_error_becomes_ours(tmp_path, monkeypatch):
    monkeypatch.setattr(PILImage, "MAX_IMAGE_PIXELS", 1000)  # someone re-enables Pillow's guard
    path = png_declaring(tmp_path / "big.png", 3000, 3000)
    with pytest.raises(ImageTooLargeError, match="big.png"):
        read_raster(path, max_pixels=10**9)


def test_dicom_rows_columns_frames_are_checked_before_decoding(write_cr):
    path = write_cr(chest_pixels(128, 120))
    dataset = pydicom.dcmread(path)
    dataset.Rows, dataset.Columns, dataset.NumberOfFrames = 8000, 8000, 2
    dataset.save_as(path)
    with pytest.raises(ImageTooLargeError, match=r"image is 8000x8000 px x 2 frames \(128.0 megapixels\)"):
        read_dicom(path)


def test_max_pixels_keyword_and_context(write_cr):
    path = write_cr(chest_pixels(128, 120))
    with pytest.raises(ImageTooLargeError, match=r"120x128 px .* the limit is 0.01 megapixels \(10000 px\)"):
        read_image(path, max_pixels=10_000)
    with pixel_limit(10_000), pytest.raises(ImageTooLargeError):
        read_image(path)
    assert read_image(path).shape == (128, 120)  # the context ended
    assert read_image(path, max_pixels=128 * 120).shape == (128, 120)  # the limit itself is allowed


def test_header_of_a_bomb_still_reads(tmp_path):
    header = read_header(png_declaring(tmp_path / "bomb.png", 30_000, 30_000))
    assert (header.columns, header.rows) == (30_000, 30_000)


def test_large_jpeg_is_decoded_at_a_reduced_scale(tmp_path):
    gray = np.tile(np.linspace(0, 255, 4400, dtype=np.float32), (300, 1)).astype(np.uint8)  # (300, 4400)
    path = tmp_path / "wide.jpg"
    PILImage.fromarray(gray).save(path, quality=95)
    reduced = read_image(path)
    assert reduced.shape == (150, 2200)  # halved once: 2200 >= 2048
    assert read_image(path, max_side_px=None).shape == (300, 4400)
    np.testing.assert_allclose(reduced.pixels[75, ::200], gray[150, ::400] / 255.0, atol=0.03)


def test_large_jpeg2000_dicom_is_decoded_at_a_lower_resolution_level(tmp_path):
    stored = np.tile(chest_pixels(128, 1100, bits=12), (1, 4))  # (128, 4400)
    dataset = cr_dataset(stored)
    dataset.compress(JPEG2000Lossless)
    path = tmp_path / "j2k.dcm"
    dataset.save_as(path, enforce_file_format=True)
    full = read_dicom(path, max_side_px=None)
    reduced = read_dicom(path)
    assert full.shape == (128, 4400) and reduced.shape == (64, 2200)
    assert reduced.pixel_spacing_mm == pytest.approx((0.4, 0.4))  # twice the stored 0.2 mm
    box = full.pixels.reshape(64, 2, 2200, 2).mean(axis=(1, 3))
    assert np.abs(reduced.pixels - box).mean() < 0.02
