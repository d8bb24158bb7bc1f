"""Fuzzing the readers: damaged DICOM, PNG and JPEG files raise januscxr's own errors, nothing else.

Deterministic (``derandomize``) so that CI sees the same examples on every run; each test runs a
few hundred examples in a few seconds. ``read_dicom`` and ``read_raster`` are fuzzed directly as
well as through ``read_image``, so that an escape is not hidden by ``read_image``'s final guard.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image as PILImage
from pydicom.dataelem import RawDataElement
from pydicom.tag import Tag

from januscxr.errors import JanusCxrError
from januscxr.io import read_dicom, read_header, read_image, read_raster
from tests.conftest import chest_pixels, cr_dataset

FUZZ = settings(
    max_examples=250,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# Small enough that a mutated size field never makes a test allocate much.
MAX_PIXELS = 2_000_000

pytestmark = pytest.mark.filterwarnings("ignore")


def _dicom_bytes() -> bytes:
    buffer = io.BytesIO()
    dataset = cr_dataset(chest_pixels(64, 64), WindowCenter=2048, WindowWidth=4000, RescaleSlope=1, RescaleIntercept=0)
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _raster_bytes(fmt: str, mode: str) -> bytes:
    buffer = io.BytesIO()
    PILImage.fromarray(chest_pixels(64, 64, bits=8).astype(np.uint8)).convert(mode).save(buffer, format=fmt)
    return buffer.getvalue()


DICOM = _dicom_bytes()
HEADER_END = DICOM.index(b"\xe0\x7f\x10\x00") + 12  # up to the Pixel Data value
RASTERS = {
    "png-L": _raster_bytes("PNG", "L"),
    "png-RGB": _raster_bytes("PNG", "RGB"),
    "png-P": _raster_bytes("PNG", "P"),
    "jpeg-L": _raster_bytes("JPEG", "L"),
    "jpeg-RGB": _raster_bytes("JPEG", "RGB"),
}


@st.composite
def mutated(draw: st.DrawFn, data: bytes, end: int | None = None) -> bytes:
    """``data`` with a few bytes overwritten, inserted or deleted (within ``end``), or truncated."""
    buffer = bytearray(data)
    limit = end or len(data)
    for _ in range(draw(st.integers(1, 6))):
        if len(buffer) < 2:
            break
        at = draw(st.integers(0, min(limit, len(buffer)) - 1))
        action = draw(st.sampled_from(["set", "set", "insert", "delete", "truncate"]))
        if action == "set":
            buffer[at] = draw(st.integers(0, 255))
        elif action == "insert":
            buffer[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif action == "delete":
            del buffer[at : at + draw(st.integers(1, 8))]
        else:
            del buffer[max(at, 1) :]
    return bytes(buffer)


def _only_our_errors(path: Path, *readers) -> None:
    for reader in readers:
        try:
            reader(path)
        except JanusCxrError as error:
            assert "\n" not in str(error)


def _read_image(path: Path) -> object:
    return read_image(path, max_pixels=MAX_PIXELS)


@FUZZ
@given(data=mutated(DICOM, HEADER_END))
def test_mutated_dicom_bytes(tmp_path, data):
    path = tmp_path / "fuzz.dcm"
    path.write_bytes(data)
    _only_our_errors(path, lambda p: read_dicom(p, max_pixels=MAX_PIXELS), _read_image, read_header)


ELEMENTS = [
    "Rows",
    "Columns",
    "BitsAllocated",
    "BitsStored",
    "HighBit",
    "PixelRepresentation",
    "SamplesPerPixel",
    "NumberOfFrames",
    "PhotometricInterpretation",
    "PlanarConfiguration",
    "PixelSpacing",
    "ImagerPixelSpacing",
    "WindowCenter",
    "WindowWidth",
    "VOILUTFunction",
    "RescaleSlope",
    "RescaleIntercept",
    "PatientAge",
    "PatientSex",
    "PatientName",
    "PatientOrientation",
    "ViewPosition",
    "Modality",
    "BodyPartExamined",
    "StudyInstanceUID",
    "ImageLaterality",
    "SpecificCharacterSet",
    "PixelData",
]
VRS = ["US", "SS", "UL", "SL", "FL", "FD", "DS", "IS", "CS", "LO", "PN", "AS", "UI", "SQ", "OB", "OW", "UN", "AT", "UT"]


@FUZZ
@given(
    changes=st.lists(
        st.tuples(st.sampled_from(ELEMENTS), st.sampled_from(VRS), st.binary(max_size=16)), min_size=1, max_size=3
    )
)
def test_dicom_elements_with_wrong_values_vrs_and_lengths(tmp_path, changes):
    dataset = cr_dataset(chest_pixels(64, 64), WindowCenter=2048, WindowWidth=4000)
    for keyword, vr, value in changes:
        tag = Tag(keyword)
        dataset[tag] = RawDataElement(tag, vr, len(value), value, 0, False, True)
    path = tmp_path / "fuzz.dcm"
    try:
        dataset.save_as(path, enforce_file_format=True)
    except Exception:  # pydicom will not write some combinations; they are not files we can receive
        return
    _only_our_errors(path, lambda p: read_dicom(p, max_pixels=MAX_PIXELS), _read_image, read_header)


@FUZZ
@given(name=st.sampled_from(sorted(RASTERS)), data=st.data())
def test_mutated_png_and_jpeg_bytes(tmp_path, name, data):
    source = RASTERS[name]
    path = tmp_path / f"fuzz.{name.split('-')[0]}"
    path.write_bytes(data.draw(mutated(source, min(len(source), 400))))
    _only_our_errors(path, lambda p: read_raster(p, max_pixels=MAX_PIXELS), _read_image, read_header)


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


@FUZZ
@given(
    columns=st.integers(0, 2**31 - 1) | st.integers(0, 3000),
    rows=st.integers(0, 2**31 - 1) | st.integers(0, 3000),
    depth=st.sampled_from([1, 2, 4, 8, 16, 3, 0, 255]),
    colour=st.sampled_from([0, 2, 3, 4, 6, 1, 7]),
    interlace=st.sampled_from([0, 1, 2]),
    idat=st.binary(max_size=64),
)
def test_png_ihdr_sizes_and_modes(tmp_path, columns, rows, depth, colour, interlace, idat):
    ihdr = struct.pack(">IIBBBBB", columns, rows, depth, colour, 0, 0, interlace)
    body = zlib.compress(idat) if idat else b""
    png = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", body) + _chunk(b"IEND", b"")
    path = tmp_path / "ihdr.png"
    path.write_bytes(png)
    _only_our_errors(path, lambda p: read_raster(p, max_pixels=MAX_PIXELS), _read_image, read_header)


@FUZZ
@given(rows=st.integers(0, 65535), columns=st.integers(0, 65535), name=st.sampled_from(["jpeg-L", "jpeg-RGB"]))
def test_jpeg_frame_sizes(tmp_path, rows, columns, name):
    data = bytearray(RASTERS[name])
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", rows, columns)
    path = tmp_path / "sof.jpg"
    path.write_bytes(bytes(data))
    _only_our_errors(path, lambda p: read_raster(p, max_pixels=MAX_PIXELS), _read_image, read_header)
