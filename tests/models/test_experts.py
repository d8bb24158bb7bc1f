"""Experts combined finding by finding, local calibrations (fit and use), and the JSON saying who answered."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from jsonschema import Draft202012Validator
from PIL import Image as PILImage

from januscxr.errors import ManifestError
from januscxr.labels import Finding
from januscxr.models import registry
from januscxr.models.base import ClassifierSpec
from januscxr.models.experts import ExpertFindingResult, LocallyCalibrated, load_experts
from januscxr.records import read_output_schema, result_record
from januscxr.training.calibrate import calibrate_expert, write_calibration
from januscxr.types import FindingResult, Image, Prediction


class BrightnessClassifier:
    """Pneumonia probability from the image's mean brightness; a fixed effusion score."""

    def __init__(self, spec: ClassifierSpec, weights: Path | None = None) -> None:
        self._spec = spec

    @property
    def spec(self) -> ClassifierSpec:
        return self._spec

    def predict(self, images: Sequence[Image], *, heatmaps: bool = True) -> list[Prediction]:
        out = []
        for image in images:
            p = float(np.clip(image.pixels.mean(), 0.01, 0.99))
            results = {
                Finding.PNEUMONIA: FindingResult(Finding.PNEUMONIA, p, 0.5, urgent_threshold=0.95),
                Finding.PLEURAL_EFFUSION: FindingResult(Finding.PLEURAL_EFFUSION, 0.2, 0.4),
            }
            out.append(Prediction(results, self._spec.model_id, self._spec.version))
        return out


@pytest.fixture
def stub(monkeypatch: pytest.MonkeyPatch) -> str:
    spec = ClassifierSpec("stub-bright", "1", (Finding.PNEUMONIA, Finding.PLEURAL_EFFUSION), 0, BrightnessClassifier)
    monkeypatch.setitem(registry._CLASSIFIERS, spec.model_id, spec)
    return spec.model_id


def _image(brightness: float) -> Image:
    return Image(pixels=np.full((16, 16), brightness, dtype=np.float32), source="x.png")


def test_combined_experts_average_shared_findings_and_say_who_answered(stub, tmp_path):
    combined = load_experts(f"fake-classifier, {stub}", models_dir=tmp_path)
    assert combined.spec.model_id == "fake-classifier,stub-bright"
    (prediction,) = combined.predict([_image(0.7)])
    pneumonia = prediction.findings[Finding.PNEUMONIA]
    assert isinstance(pneumonia, ExpertFindingResult)
    assert pneumonia.experts == ("fake-classifier", "stub-bright")
    assert pneumonia.probability == pytest.approx((0.10 + 0.7) / 2)
    assert pneumonia.threshold == pytest.approx((0.3 + 0.5) / 2)
    assert pneumonia.urgent_threshold is None  # an average was never chosen on held-out cases
    pneumothorax = prediction.findings[Finding.PNEUMOTHORAX]
    assert pneumothorax.experts == ("fake-classifier",) and pneumothorax.urgent  # one expert: its own result
    assert pneumothorax.heatmap is not None
    record = result_record(_read_result(prediction))
    by_finding = {f["finding"]: f for f in record["findings"]}
    assert by_finding["Pneumonia"]["experts"] == ["fake-classifier", "stub-bright"]
    assert by_finding["Pneumothorax"]["experts"] == ["fake-classifier"]
    Draft202012Validator(read_output_schema()).validate({"schema_version": "1.0", "results": [record], "errors": []})


def _read_result(prediction: Prediction):  # type: ignore[no-untyped-def]
    from januscxr.types import DraftReport, ReadResult

    return ReadResult(_image(0.5), prediction, DraftReport("f", "i", "findings-composer"))


def test_a_single_expert_is_named_in_the_json():
    from januscxr.pipeline import cached_classifier

    (prediction,) = cached_classifier("fake-classifier").predict([_image(0.5)])
    record = result_record(_read_result(prediction))
    assert {tuple(f["experts"]) for f in record["findings"]} == {("fake-classifier",)}


def test_a_repeated_or_empty_name_is_refused():
    from januscxr.errors import UnknownModelError

    with pytest.raises(UnknownModelError, match="each once"):
        load_experts("fake-classifier,fake-classifier")
    with pytest.raises(UnknownModelError, match="no classifier named 'nope'"):
        load_experts("fake-classifier,nope")


def _manifest(folder: Path, *, with_effusion_positive: bool = True, n: int = 40) -> Path:
    rng = np.random.default_rng(0)
    rows = ["path,patient_id,Pneumonia,Pleural Effusion"]
    for i in range(n):
        positive = i % 2 == 0
        brightness = float(np.clip(rng.normal(0.62 if positive else 0.38, 0.12), 0.02, 0.98))
        PILImage.fromarray(np.full((64, 64), round(brightness * 255), dtype=np.uint8)).save(folder / f"{i}.png")
        effusion = int(i % 4 == 0) if with_effusion_positive else 0
        rows.append(f"{i}.png,p{i // 2},{int(positive)},{effusion}")
    path = folder / "local.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def test_calibrate_fits_thresholds_with_patient_grouped_cis_and_reading_uses_them(stub, tmp_path):
    manifest = _manifest(tmp_path)
    document = calibrate_expert(stub, manifest, models_dir=tmp_path / "models", n_boot=200)
    pneumonia = document["findings"]["Pneumonia"]
    assert pneumonia["positives"] == 20 and pneumonia["patients"] == 20
    assert pneumonia["auc"] > 0.8 and pneumonia["auc_ci95"][0] < pneumonia["auc"] < pneumonia["auc_ci95"][1]
    assert 0.0 < pneumonia["threshold"] < 1.0 and pneumonia["urgent_threshold"] >= pneumonia["threshold"]
    assert document["findings"]["Pleural Effusion"]["urgent_threshold"] is None  # 10 positives: unreliable
    path, card = write_calibration(document, tmp_path / "models")
    assert path == tmp_path / "models" / "calibration" / "stub-bright.json"
    assert (
        "patient-grouped percentile bootstrap" in card.read_text()
        and "| Pneumonia | 20 / 20 (20) |" in card.read_text()
    )
    reloaded = load_experts(stub, models_dir=tmp_path / "models")
    assert isinstance(reloaded, LocallyCalibrated) and "+local:" in reloaded.spec.version
    (prediction,) = reloaded.predict([_image(0.6)])
    assert prediction.findings[Finding.PNEUMONIA].threshold == pytest.approx(pneumonia["threshold"])
    assert prediction.findings[Finding.PNEUMONIA].urgent_threshold == pytest.approx(pneumonia["urgent_threshold"])
    assert load_experts(stub, models_dir=tmp_path / "other").predict([_image(0.6)])[0].findings[
        Finding.PNEUMONIA
    ].threshold == pytest.approx(0.5)


def test_calibrating_a_combination_replaces_the_averaged_thresholds(stub, tmp_path):
    name = f"fake-classifier,{stub}"
    document = calibrate_expert(name, _manifest(tmp_path), models_dir=tmp_path / "models", n_boot=100)
    write_calibration(document, tmp_path / "models")
    assert (tmp_path / "models" / "calibration" / "fake-classifier+stub-bright.json").is_file()
    (prediction,) = load_experts(name, models_dir=tmp_path / "models").predict([_image(0.6)])
    result = prediction.findings[Finding.PNEUMONIA]
    assert result.threshold == pytest.approx(document["findings"]["Pneumonia"]["threshold"])
    assert result.experts == ("fake-classifier", "stub-bright")


def test_a_manifest_without_positives_for_a_finding_says_which(stub, tmp_path):
    manifest = _manifest(tmp_path, with_effusion_positive=False)
    with pytest.raises(
        ManifestError, match=r"local.csv: cannot calibrate Pleural Effusion \(0 positives, 40 negatives\)"
    ):
        calibrate_expert(stub, manifest, models_dir=tmp_path)
    json.dumps({})  # nothing written
    assert not (tmp_path / "calibration").exists()
