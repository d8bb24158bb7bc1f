"""The bundled chest-radiograph gate: what it refuses, what it lets through, and why."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage
from PIL import ImageDraw, ImageFont
from pydicom import dcmread
from pydicom.data import get_testdata_file

import januscxr
from januscxr.errors import NotChestRadiographError, UnknownModelError, exit_code_for
from januscxr.io import find_images, read_image
from januscxr.models.base import Gate
from januscxr.models.gate import mirror_symmetry
from januscxr.models.registry import DEFAULT_GATE, get_gate_spec, load_gate
from januscxr.training.gate import crude_lateral, to_gate_pixels
from januscxr.types import Image

pytestmark = pytest.mark.real_gate


@pytest.fixture(scope="module")
def gate() -> Gate:
    return load_gate(DEFAULT_GATE)


def _refusal(path: Path) -> NotChestRadiographError:
    with pytest.raises(NotChestRadiographError) as caught:
        januscxr.read(path, classifier="fake-classifier")
    assert exit_code_for(caught.value) == 4
    assert str(caught.value).startswith(f"{path}: not a frontal chest radiograph: ")
    return caught.value


def _png(tmp_path: Path, name: str, pixels: np.ndarray) -> Path:
    path = tmp_path / name
    PILImage.fromarray(np.asarray(pixels, np.uint8)).save(path)
    return path


def test_registered_with_checked_weights_and_a_fake_double(gate):
    assert isinstance(gate, Gate) and gate.spec.model_id == DEFAULT_GATE and not gate.spec.test_double
    assert get_gate_spec("fake-gate").test_double
    assert load_gate("fake-gate").check([Image(np.zeros((64, 64), np.float32), "x")])[0].accepted
    assert gate.check([]) == []
    with pytest.raises(UnknownModelError, match="registered: "):
        get_gate_spec("no-such-gate")


def test_refuses_a_black_image(tmp_path):
    error = _refusal(_png(tmp_path, "black.png", np.zeros((512, 512))))
    assert "blank" in str(error)


def test_refuses_random_noise_the_classifier_once_called_pneumonia(tmp_path):
    noise = np.random.default_rng(0).integers(0, 256, (256, 256))
    error = _refusal(_png(tmp_path, "noise.png", noise))
    assert "noise" in str(error)


def test_refuses_a_photograph(tmp_path):
    from matplotlib import cbook

    _refusal(Path(str(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))))


def test_refuses_a_text_screenshot(tmp_path):
    canvas = PILImage.new("L", (640, 400), 255)
    draw = ImageDraw.Draw(canvas)
    for row in range(12):
        draw.text(
            (10, 10 + 32 * row),
            "Radiology worklist  Study 1234  Status: pending",
            fill=0,
            font=ImageFont.load_default(size=18),
        )
    canvas.save(tmp_path / "screenshot.png")
    _refusal(tmp_path / "screenshot.png")


def test_refuses_a_ct_slice_whose_header_claims_a_chest_radiograph(tmp_path):
    dataset = dcmread(str(get_testdata_file("CT_small.dcm")))
    dataset.Modality, dataset.BodyPartExamined, dataset.ViewPosition = "CR", "CHEST", "PA"
    dataset.save_as(tmp_path / "ct.dcm")
    _refusal(tmp_path / "ct.dcm")


@pytest.mark.data
def test_refuses_a_lateral_built_from_a_real_chest(shared_data, gate):
    frontal = read_image(shared_data / "fixtures" / "misc" / "00000001_000.png").pixels
    lateral = Image(crude_lateral(to_gate_pixels(frontal)).astype(np.float32) / 255.0, "lateral.png")
    (decision,) = gate.check([lateral])
    assert not decision.accepted and decision.reason


@pytest.mark.data
def test_every_real_chest_fixture_passes(shared_data, gate):
    paths = find_images([shared_data / "fixtures"])
    assert len(paths) >= 10
    decisions = gate.check([read_image(p) for p in paths])
    assert [(p.name, d.reason) for p, d in zip(paths, decisions, strict=True) if not d.accepted] == []


@pytest.mark.data
def test_a_real_chest_reads_end_to_end_through_the_bundled_gate(shared_data):
    result = januscxr.read(shared_data / "fixtures" / "dicom" / "RG1_UNCR.dcm", classifier="fake-classifier")
    assert result.prediction.model_id == "fake-classifier"


def test_mirror_symmetry_is_high_for_symmetric_images_even_off_centre():
    rng = np.random.default_rng(0)
    half = rng.normal(size=(2, 64, 32)).astype(np.float32)
    symmetric = np.concatenate([half, half[:, :, ::-1]], axis=2)
    shifted = np.roll(symmetric, 3, axis=2)
    assert np.allclose(mirror_symmetry(symmetric), 1.0, atol=1e-4)
    assert (mirror_symmetry(shifted) > 0.8).all()
    assert (mirror_symmetry(rng.normal(size=(2, 64, 64)).astype(np.float32)) < 0.3).all()


def test_the_gate_is_fast(gate):
    import time

    image = Image(np.random.default_rng(0).random((2048, 2048), dtype=np.float32), "big.png")
    gate.check([image])
    started = time.perf_counter()
    gate.check([image])
    assert time.perf_counter() - started < 0.5  # ~10 ms measured; generous for shared CI machines


def test_the_cli_refuses_noise_with_exit_4(tmp_path):
    from typer.testing import CliRunner

    from januscxr.cli.app import app

    noise = _png(tmp_path, "noise.png", np.random.default_rng(1).integers(0, 256, (300, 300)))
    outcome = CliRunner().invoke(app, ["read", "--classifier", "fake-classifier", str(noise)])
    assert outcome.exit_code == 4, outcome.output
    assert "noise.png: not a frontal chest radiograph" in outcome.output
