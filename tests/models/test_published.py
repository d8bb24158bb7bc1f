"""Published experts: label mapping, preprocessing against independent references, conversion and its strictness."""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F  # noqa: N812
from PIL import Image as PILImage

from januscxr.errors import ChecksumMismatchError, ModelError, WeightsNotFoundError
from januscxr.labels import Finding
from januscxr.models.checkpoint import convert_published
from januscxr.models.published import PUBLISHED_EXPERTS, sources_by_finding
from januscxr.models.published_input import model_input, ten_crops, xrv_input
from januscxr.models.registry import get_classifier_spec, load_classifier
from januscxr.types import Image
from tests.models.published_files import write_chexnet, write_xrv_densenet, write_xrv_resnet

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def _image(shape: tuple[int, int] = (150, 130), seed: int = 0) -> Image:
    pixels = np.random.default_rng(seed).random(shape).astype(np.float32)
    return Image(pixels=pixels, source=f"random-{seed}.png")


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """The three formats written from random weights, converted into one models folder."""
    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("published")
    files = {
        "densenet121-res224-all": (
            folder / PUBLISHED_EXPERTS["densenet121-res224-all"].source_file,
            write_xrv_densenet,
        ),
        "chexnet-res224-nih": (folder / "model.pth.tar", write_chexnet),
        "resnet50-res512-all": (folder / PUBLISHED_EXPERTS["resnet50-res512-all"].source_file, write_xrv_resnet),
    }
    references, summaries = {}, {}
    for model_id, (path, writer) in files.items():
        references[model_id] = writer(path)
        summaries[model_id] = convert_published(PUBLISHED_EXPERTS[model_id], path, folder / "models")
    return {"folder": folder, "models": folder / "models", "files": files, "refs": references, "done": summaries}


def test_labels_map_onto_findings_and_specs_say_which_they_cover():
    nih = sources_by_finding(PUBLISHED_EXPERTS["densenet121-res224-nih"])
    names = PUBLISHED_EXPERTS["densenet121-res224-nih"].outputs
    assert [names[i] for i in nih[Finding.LUNG_LESION]] == ["Nodule", "Mass"]
    assert [names[i] for i in nih[Finding.LUNG_OPACITY]] == ["Infiltration"]
    assert Finding.FRACTURE not in nih and Finding.SUPPORT_DEVICES not in nih
    everything = sources_by_finding(PUBLISHED_EXPERTS["densenet121-res224-all"])
    assert [PUBLISHED_EXPERTS["densenet121-res224-all"].outputs[i] for i in everything[Finding.LUNG_OPACITY]] == [
        "Lung Opacity"
    ]
    assert get_classifier_spec("densenet121-res224-rsna").labels == (Finding.LUNG_OPACITY, Finding.PNEUMONIA)
    chexnet = get_classifier_spec("chexnet-res224-nih")
    assert chexnet.user_weights and chexnet.input_size == 224 and Finding.PLEURAL_EFFUSION in chexnet.labels
    resnet = get_classifier_spec("resnet50-res512-all")
    assert resnet.input_size == 512 and Finding.ENLARGED_CARDIOMEDIASTINUM not in resnet.labels
    assert {f"densenet121-res224-{d}" for d in ("all", "nih", "chex", "mimic_ch", "mimic_nb", "pc", "rsna")} <= set(
        PUBLISHED_EXPERTS
    )


def test_xrv_preprocessing_matches_an_independent_reference():
    pixels = _image((150, 130)).pixels
    ours = xrv_input(pixels, 224)
    side = 130
    top = 150 // 2 - side // 2
    crop = torch.from_numpy(pixels[top : top + side].copy())[None, None] * 2048.0 - 1024.0
    reference = F.interpolate(crop, size=(224, 224), mode="bilinear", antialias=True, align_corners=False)[0]
    assert ours.shape == (1, 224, 224)
    assert np.abs(ours - reference.numpy()).max() < 2.0  # of a 2048 range: the resize filters agree
    assert ours.min() >= -1024.5 and ours.max() <= 1024.5


def test_chexnet_ten_crop_matches_the_torchvision_pipeline_on_8_bit_rgb():
    pixels = _image((300, 260), seed=3).pixels
    ours = ten_crops(pixels)
    rgb = PILImage.fromarray(np.round(pixels * 255).astype(np.uint8)).convert("RGB")
    resized = rgb.resize((256, int(256 * 300 / 260)), PILImage.Resampling.BILINEAR)  # Resize(256): short side
    array = np.asarray(resized, dtype=np.float32) / 255.0  # (H, W, 3), ToTensor
    h, w = array.shape[:2]
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    centre = array[round((h - 224) / 2) :, round((w - 224) / 2) :][:224, :224]
    bottom_right_flipped = array[:, ::-1][h - 224 :, w - 224 :]
    for index, crop in ((4, centre), (8, bottom_right_flipped)):
        expected = ((crop - mean) / std).transpose(2, 0, 1)
        assert np.abs(ours[index] - expected).max() < 0.05  # 8-bit rounding, over std 0.225
    assert ours.shape == (10, 3, 224, 224)


@pytest.mark.parametrize("model_id", ["densenet121-res224-all", "chexnet-res224-nih", "resnet50-res512-all"])
def test_converted_models_score_like_the_reference_network(published, model_id):
    done = published["done"][model_id]
    assert done.weights.parent == published["models"] / model_id
    classifier = load_classifier(model_id, models_dir=published["models"])
    image = _image()
    x = torch.from_numpy(model_input(image.pixels, classifier.preprocessing, classifier.input_size))
    with torch.no_grad():
        reference = published["refs"][model_id](x).double()  # (crops, outputs)
    (prediction,) = classifier.predict([image], heatmaps=False)
    expert = PUBLISHED_EXPERTS[model_id]
    assert set(prediction.findings) == set(expert.findings)
    cardiomegaly = expert.outputs.index("Cardiomegaly")
    expected = torch.sigmoid(reference[:, cardiomegaly]).mean().item()  # crops averaged, CheXNet's protocol
    result = prediction.findings[Finding.CARDIOMEGALY]
    assert result.probability == pytest.approx(expected, abs=1e-5)
    published_threshold = expert.thresholds[cardiomegaly]
    assert result.threshold == pytest.approx(0.5 if np.isnan(published_threshold) else published_threshold)
    assert result.urgent_threshold is None  # no published specific point: never urgent until calibrated locally


def test_a_finding_with_two_outputs_is_flagged_when_either_is(published):
    classifier = load_classifier("chexnet-res224-nih", models_dir=published["models"])
    image = _image(seed=5)
    (prediction,) = classifier.predict([image], heatmaps=True)
    x = torch.from_numpy(model_input(image.pixels, classifier.preprocessing, 224))
    with torch.no_grad():
        p = torch.sigmoid(published["refs"]["chexnet-res224-nih"](x).double()).mean(0)
    mass, nodule = PUBLISHED_EXPERTS["chexnet-res224-nih"].outputs.index("Mass"), 5
    lesion = prediction.findings[Finding.LUNG_LESION]
    assert lesion.probability == pytest.approx(max(p[mass], p[nodule]).item(), abs=1e-5)
    flagged = [r for r in prediction.findings.values() if r.flagged]
    assert all(r.heatmap is not None and r.heatmap.shape == (7, 7) for r in flagged)


def test_conversion_records_both_sha256_and_loading_checks_it(published, tmp_path):
    record = (published["models"] / "densenet121-res224-all" / "januscxr-expert.json").read_text()
    done = published["done"]["densenet121-res224-all"]
    assert done.sha256 in record and done.container == "pickled module torchxrayvision.models.DenseNet"
    copy = tmp_path / "models" / "densenet121-res224-all"
    copy.mkdir(parents=True)
    for name in ("densenet121-res224-all.safetensors", "januscxr-expert.json"):
        copy.joinpath(name).write_bytes((done.weights.parent / name).read_bytes())
    data = bytearray(copy.joinpath("densenet121-res224-all.safetensors").read_bytes())
    data[-1] ^= 0xFF
    copy.joinpath("densenet121-res224-all.safetensors").write_bytes(bytes(data))
    with pytest.raises(ChecksumMismatchError, match="recorded at conversion"):
        load_classifier("densenet121-res224-all", models_dir=tmp_path / "models")
    with pytest.raises(
        WeightsNotFoundError, match=r"weights not present .*januscxr models convert densenet121-res224-nih"
    ):
        load_classifier("densenet121-res224-nih", models_dir=tmp_path / "models")


def _state(published, model_id: str) -> OrderedDict[str, torch.Tensor]:
    path, _ = published["files"][model_id]
    return torch.load(path, weights_only=True)


def test_a_missing_tensor_is_named(published, tmp_path):
    state = _state(published, "resnet50-res512-all")
    del state["layer3.2.bn2.running_var"]
    torch.save(state, tmp_path / "short.pt")
    with pytest.raises(ModelError, match=r"short.pt: tensor layer3.2.bn2.running_var is missing"):
        convert_published(PUBLISHED_EXPERTS["resnet50-res512-all"], tmp_path / "short.pt", tmp_path / "models")
    assert not (tmp_path / "models" / "resnet50-res512-all").exists()


def test_a_file_of_the_wrong_architecture_names_the_first_problem(published, tmp_path):
    resnet_file, _ = published["files"]["resnet50-res512-all"]
    with pytest.raises(ModelError, match=r"tensor features.conv0.weight is missing .*expected the 727 tensors"):
        convert_published(PUBLISHED_EXPERTS["densenet121-res224-all"], resnet_file, tmp_path)
    xrv_file, _ = published["files"]["densenet121-res224-all"]
    with pytest.raises(ModelError, match=r"tensor features.conv0.weight has shape \(64, 1, 7, 7\); expected \(64, 3"):
        convert_published(PUBLISHED_EXPERTS["chexnet-res224-nih"], xrv_file, tmp_path)
    state = _state(published, "resnet50-res512-all")
    state["fc2.weight"] = torch.zeros(3)
    torch.save(state, tmp_path / "extra.pt")
    with pytest.raises(ModelError, match=r"tensor fc2.weight is not part of resnet50-res512-all"):
        convert_published(PUBLISHED_EXPERTS["resnet50-res512-all"], tmp_path / "extra.pt", tmp_path)


class _RunsCode:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("zip_container", [False, True])
def test_a_pickle_that_would_run_code_is_refused(tmp_path, zip_container):
    marker = tmp_path / "ran"
    checkpoint = {"state_dict": {"features.conv0.weight": torch.zeros(1)}, "hook": _RunsCode(marker)}
    torch.save(checkpoint, tmp_path / "model.pth.tar", _use_new_zipfile_serialization=zip_container)
    with pytest.raises(ModelError, match=r"refused to load: its pickle would call posix.system"):
        convert_published(PUBLISHED_EXPERTS["chexnet-res224-nih"], tmp_path / "model.pth.tar", tmp_path)
    assert not marker.exists()


def test_not_a_pytorch_file(tmp_path):
    (tmp_path / "x.pt").write_bytes(b"<html>not found</html>")
    with pytest.raises(ModelError, match=r"x.pt: not a PyTorch file"):
        convert_published(PUBLISHED_EXPERTS["densenet121-res224-rsna"], tmp_path / "x.pt", tmp_path)
