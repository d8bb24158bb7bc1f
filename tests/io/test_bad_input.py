"""Bad input: a one-line JanusCxrError naming the file and what was expected, never a crash."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image as PILImage

from januscxr.errors import (
    ImageReadError,
    ImageTooSmallError,
    JanusCxrError,
    LateralViewError,
    WrongBodyPartError,
    WrongModalityError,
)
from januscxr.io import IMAGE_SUFFIXES, read_image
from tests.conftest import chest_pixels


def test_zero_size_file(tmp_path):
    path = tmp_path / "empty.dcm"
    path.write_bytes(b"")
    with pytest.raises(ImageReadError, match=r"empty.dcm: empty file \(0 bytes\)"):
        read_image(path)


def test_missing_file(tmp_path):
    with pytest.raises(ImageReadError, match="nothere.png: cannot open"):
        read_image(tmp_path / "nothere.png")


def test_directory(tmp_path):
    with pytest.raises(ImageReadError, match="is a directory"):
        read_image(tmp_path)


@pytest.mark.parametrize("suffix", [".png", ".dcm", ".jpg", ".bin"])
def test_random_bytes(tmp_path, suffix):
    path = tmp_path / f"noise{suffix}"
    path.write_bytes(np.random.default_rng(0).bytes(5000))
    with pytest.raises(ImageReadError, match=f"noise{suffix}"):
        read_image(path)


def test_text_file(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("not an x-ray")
    with pytest.raises(ImageReadError, match="notes.txt: not an image; expected DICOM, PNG or JPEG"):
        read_image(path)


@pytest.mark.parametrize("keep", [0.2, 0.6, 0.95])
def test_truncated_dicom(write_cr, keep):
    path = write_cr()
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(ImageReadError, match=path.name):
        read_image(path)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_raster(tmp_path, fmt):
    path = tmp_path / f"cut.{fmt.lower()}"
    PILImage.fromarray(chest_pixels(512, 512, bits=8).astype(np.uint8)).save(path, format=fmt)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageReadError, match=r"truncated or corrupt"):
        read_image(path)


@pytest.mark.parametrize("modality", ["CT", "MR", "US", "NM", "MG"])
def test_wrong_modality(write_cr, modality):
    with pytest.raises(WrongModalityError, match=f"Modality is {modality}; expected a radiograph"):
        read_image(write_cr(Modality=modality))


def test_non_chest_body_part(write_cr):
    with pytest.raises(WrongBodyPartError, match="Body Part Examined is HAND; expected CHEST"):
        read_image(write_cr(BodyPartExamined="HAND"))


@pytest.mark.parametrize("code", ["LL", "RL", "LATERAL"])
def test_lateral_refused_unless_allowed(write_cr, code):
    path = write_cr(ViewPosition=code)
    with pytest.raises(LateralViewError, match="expected a frontal PA or AP view"):
        read_image(path)
    assert read_image(path, require_frontal=False).view_position.value == "LATERAL"


def test_too_small(write_cr, tmp_path):
    with pytest.raises(ImageTooSmallError, match="40x32 px; expected at least 64"):
        read_image(write_cr(chest_pixels(32, 40)))
    path = tmp_path / "tiny.png"
    PILImage.fromarray(np.zeros((10, 10), np.uint8)).save(path)
    with pytest.raises(ImageTooSmallError):
        read_image(path)


def test_no_pixel_data(write_cr):
    import pydicom

    path = write_cr()
    ds = pydicom.dcmread(path)
    del ds.PixelData
    ds.save_as(path)
    with pytest.raises(ImageReadError, match="no Pixel Data"):
        read_image(path)


def test_every_shared_fixture_reads_or_fails_cleanly(shared_data):
    files = [p for p in (shared_data / "fixtures").rglob("*") if p.is_file()]
    assert files
    for path in files:
        try:
            image = read_image(path)
        except JanusCxrError as error:
            assert str(path) in str(error) and "\n" not in str(error)
        else:
            assert path.suffix.lower() in IMAGE_SUFFIXES
            assert image.pixels.ndim == 2 and np.isfinite(image.pixels).all()


def test_cli_prints_no_traceback_for_bad_files(tmp_path, write_cr):
    bad = {
        "empty.dcm": b"",
        "noise.png": np.random.default_rng(1).bytes(3000),
        "ct.dcm": write_cr(Modality="CT").read_bytes(),
        "cut.dcm": write_cr().read_bytes()[:900],
    }
    for name, data in bad.items():
        (tmp_path / name).write_bytes(data)
    good = write_cr(name="good.dcm")
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    files = [str(tmp_path / n) for n in bad] + [str(good)]
    command = [sys.executable, "-m", "januscxr.cli.app", "read", "--classifier", "fake-classifier", *files]
    completed = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert completed.returncode != 0
    assert "Traceback" not in completed.stderr + completed.stdout
    assert "good.dcm" in completed.stdout  # the rest of the batch was read
    assert "1 of 5 read; 4 failed" in completed.stderr
    for name in bad:
        assert f"{name}:" in completed.stderr
