"""The CxrNet backend: calibrated probabilities, thresholds, Grad-CAM, batching."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from januscxr.models.cxrnet import CxrNet
from januscxr.models.cxrnet_classifier import CxrNetClassifier
from januscxr.models.heatmap import gradcam, heatmap_laterality
from januscxr.types import Image, Laterality
from tests.conftest import chest_pixels
from tests.models.tiny import TINY_FINDINGS, TINY_SIZE, write_tiny_classifier


@pytest.fixture
def tiny(tmp_path):
    path = tmp_path / "tiny.safetensors"
    spec = write_tiny_classifier(path)
    return CxrNetClassifier(spec, path)


def _image(seed: int = 0) -> Image:
    rng = np.random.default_rng(seed)
    pixels = chest_pixels(160, 150).astype(np.float32) / 4095 + rng.normal(0, 0.05, (160, 150)).astype(np.float32)
    return Image(pixels=np.clip(pixels, 0, 1), source=f"synthetic-{seed}")


def test_metadata_drives_the_backend(tiny):
    assert tiny.findings == TINY_FINDINGS
    assert tiny.input_size == TINY_SIZE
    assert all(0 < t < 1 for t in tiny.thresholds)
    assert tiny.temperatures.shape == (len(TINY_FINDINGS),)


def test_probabilities_are_calibrated_logits(tiny):
    image = _image()
    (prediction,) = tiny.predict([image], heatmaps=False)
    from januscxr.preprocess import to_model_input

    x = torch.from_numpy(to_model_input(image.pixels, TINY_SIZE))[None, None]
    with torch.no_grad():
        expected = torch.sigmoid(tiny.network(x) / tiny.temperatures + tiny.biases)[0].numpy()
    got = [prediction.findings[f].probability for f in TINY_FINDINGS]
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_heatmaps_only_for_flagged_findings(tiny):
    for f in TINY_FINDINGS:
        tiny.thresholds[TINY_FINDINGS.index(f)] = 0.0 if f is TINY_FINDINGS[0] else 1.01
    (prediction,) = tiny.predict([_image()])
    flagged = prediction.findings[TINY_FINDINGS[0]]
    assert flagged.flagged and flagged.heatmap is not None
    assert flagged.heatmap.shape == (TINY_SIZE // 16, TINY_SIZE // 16)
    assert flagged.heatmap.min() >= 0.0 and flagged.heatmap.max() <= 1.0
    assert all(prediction.findings[f].heatmap is None for f in TINY_FINDINGS[1:])


def test_batch_equals_one_by_one(tiny):
    images = [_image(s) for s in range(3)]
    batched = tiny.predict(images)
    for image, together in zip(images, batched, strict=True):
        (alone,) = tiny.predict([image])
        for f in TINY_FINDINGS:
            assert together.findings[f].probability == pytest.approx(alone.findings[f].probability, abs=1e-5)


def test_gradcam_matches_cam_for_a_pooled_linear_head():
    torch.manual_seed(0)
    net = CxrNet(2, (4, 8, 8, 16)).eval()
    features = net.features(torch.randn(1, 1, 64, 64)).detach().requires_grad_(True)
    logits = net.head(features.mean(dim=(2, 3)))
    (cam,) = gradcam(features, logits, [1])
    expected = torch.relu(torch.einsum("c,chw->hw", net.head.weight[1], features[0])).detach().numpy()
    expected = expected / expected.max() if expected.max() > 0 else expected
    np.testing.assert_allclose(cam, expected, atol=1e-5)


def test_laterality_follows_display_orientation():
    heat = np.zeros((8, 8), np.float32)
    heat[2:6, 0:3] = 1.0  # image left
    assert heatmap_laterality(heat) is Laterality.RIGHT
    assert heatmap_laterality(heat, column_toward_patient_left=False) is Laterality.LEFT
    assert heatmap_laterality(heat[:, ::-1].copy()) is Laterality.LEFT
    assert heatmap_laterality(np.ones((8, 8), np.float32)) is None
    assert heatmap_laterality(np.zeros((8, 8), np.float32)) is None


def test_findings_no_better_than_chance_are_withheld(tmp_path):
    import hashlib

    from januscxr.models.base import ClassifierSpec
    from januscxr.training.export import export_classifier
    from januscxr.training.trainer import TrainConfig, TrainedModel

    rng = np.random.default_rng(3)
    labels = (rng.random((300, 2)) < 0.3).astype(np.float32)
    logits = np.stack([4 * (labels[:, 0] - 0.5) + rng.normal(0, 1, 300), rng.normal(0, 1, 300)], 1).astype(np.float32)
    findings = TINY_FINDINGS[:2]
    config = TrainConfig(manifest="-", out_dir=str(tmp_path), input_size=TINY_SIZE, widths=[4, 8, 8, 16])
    trained = TrainedModel(CxrNet(2, (4, 8, 8, 16)).eval(), config, findings, logits, labels, [])
    path = tmp_path / "w.safetensors"
    summary = export_classifier(trained, path, model_id="w", version="0")
    assert summary["validation"][findings[0].value]["offered"]
    assert not summary["validation"][findings[1].value]["offered"]
    spec = ClassifierSpec(
        "w", "0", findings, TINY_SIZE, CxrNetClassifier, path.name, hashlib.sha256(path.read_bytes()).hexdigest()
    )
    (prediction,) = CxrNetClassifier(spec, path).predict([_image()])
    assert list(prediction.findings) == [findings[0]]


def _with_urgent(tmp_path, positives: dict[str, int], urgent: float):
    """The tiny classifier rewritten with urgent thresholds chosen on ``positives`` positives."""
    from januscxr.training.operating_points import write_operating_points

    path = tmp_path / "tiny.safetensors"
    spec = write_tiny_classifier(path)
    report = {f: {"urgent_threshold": urgent, "half_a": {"positives": n}} for f, n in positives.items()}
    out = tmp_path / "urgent.safetensors"
    sha256 = write_operating_points(path, out, report, rule={"min_specificity": 0.95})
    return spec, path, out, sha256


def test_urgent_thresholds_round_trip_through_the_metadata(tmp_path):
    import hashlib

    from safetensors.torch import load_file

    positives = {TINY_FINDINGS[0].value: 25, TINY_FINDINGS[1].value: 6, TINY_FINDINGS[2].value: 20}
    spec, path, out, sha256 = _with_urgent(tmp_path, positives, urgent=0.0)
    assert sha256 == hashlib.sha256(out.read_bytes()).hexdigest() != hashlib.sha256(path.read_bytes()).hexdigest()
    before, after = load_file(str(path)), load_file(str(out))
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    again = tmp_path / "again.safetensors"
    from januscxr.training.operating_points import write_operating_points

    report = {f: {"urgent_threshold": 0.0, "half_a": {"positives": n}} for f, n in positives.items()}
    assert write_operating_points(out, again, report, rule={"min_specificity": 0.95}) == sha256  # reproducible

    classifier = CxrNetClassifier(spec, out)
    assert classifier.urgent_thresholds == [0.0, None, 0.0]  # 6 positives: unreliable, dropped
    for f in TINY_FINDINGS:
        classifier.thresholds[TINY_FINDINGS.index(f)] = 0.0  # flag everything
    (prediction,) = classifier.predict([_image()], heatmaps=False)
    assert prediction.findings[TINY_FINDINGS[0]].urgent and prediction.findings[TINY_FINDINGS[0]].critical
    six = prediction.findings[TINY_FINDINGS[1]]
    assert six.flagged and six.urgent_threshold is None and not six.urgent and not six.critical


def test_a_threshold_on_six_positives_never_raises_urgency(tmp_path):
    spec, _, out, _ = _with_urgent(tmp_path, {f.value: 6 for f in TINY_FINDINGS}, urgent=0.0)
    classifier = CxrNetClassifier(spec, out)
    classifier.thresholds = [0.0] * len(TINY_FINDINGS)
    predictions = classifier.predict([_image(s) for s in range(3)], heatmaps=False)
    assert not any(r.urgent or r.critical for p in predictions for r in p.findings.values())


def test_files_without_urgent_thresholds_are_never_urgent(tiny):
    assert tiny.urgent_thresholds == [None] * len(TINY_FINDINGS)
