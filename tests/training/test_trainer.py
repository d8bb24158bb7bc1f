"""Training on a tiny synthetic manifest: split, masking, checkpoints, resume, export."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from PIL import Image as PILImage
from safetensors import safe_open

from januscxr.errors import ManifestError
from januscxr.labels import Finding
from januscxr.models.base import ClassifierSpec
from januscxr.models.cxrnet_classifier import CxrNetClassifier
from januscxr.training.export import export_classifier
from januscxr.training.manifest import read_manifest, split_by_patient
from januscxr.training.trainer import TrainConfig, train_classifier


@pytest.fixture
def manifest(tmp_path):
    """40 images of 20 patients: a bright blob means Pneumonia; effusion labelled on half."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(40):
        positive = i % 2 == 0
        pixels = rng.normal(0.4, 0.05, (72, 72))
        if positive:
            pixels[20:50, 10:30] += 0.5
        path = tmp_path / f"img{i}.png"
        PILImage.fromarray(np.uint8(np.clip(pixels, 0, 1) * 255)).save(path)
        effusion = "" if i < 20 else str(int(i % 4 == 0))
        rows.append(
            {
                "path": path.name,
                "patient_id": f"p{i // 2}",
                "Pneumonia": str(int(positive)),
                "Pleural Effusion": effusion,
            }
        )
    path = tmp_path / "manifest.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def _config(manifest, out, epochs: int) -> TrainConfig:
    return TrainConfig(
        str(manifest),
        str(out),
        input_size=64,
        widths=[8, 16, 16, 32],
        batch_size=8,
        max_epochs=epochs,
        patience=10,
        min_positives=3,
    )


def test_manifest_masks_unlabelled_findings(manifest):
    m = read_manifest(manifest)
    assert m.findings == (Finding.PNEUMONIA, Finding.PLEURAL_EFFUSION)
    assert np.isnan(m.labels[:20, 1]).all() and not np.isnan(m.labels[20:, 1]).any()
    assert m.paths[0].is_absolute() or m.paths[0].exists()


def test_split_never_puts_a_patient_on_both_sides():
    ids = [f"p{i // 3}" for i in range(300)]
    valid = split_by_patient(ids, 0.2, seed=1)
    train_patients = {p for p, v in zip(ids, valid, strict=True) if not v}
    valid_patients = {p for p, v in zip(ids, valid, strict=True) if v}
    assert not train_patients & valid_patients
    assert 0.15 < valid.mean() < 0.25
    assert (split_by_patient(ids, 0.2, seed=1) == valid).all()


def test_bad_manifest_names_line_and_column(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("path,patient_id,Pneumonia\na.png,p1,1\nb.png,p2,yes\n")
    with pytest.raises(ManifestError, match="line 3, column 'Pneumonia' is 'yes'; expected 1, 0 or empty"):
        read_manifest(path)
    path.write_text("file,Pneumonia\na.png,1\n")
    with pytest.raises(ManifestError, match="missing column"):
        read_manifest(path)


def test_train_learns_resumes_and_exports(manifest, tmp_path):
    out = tmp_path / "run"
    first = train_classifier(_config(manifest, out, epochs=2))
    assert [h["epoch"] for h in first.history] == [1, 2]
    assert (out / "last.pt").exists() and (out / "best.pt").exists()
    resumed = train_classifier(_config(manifest, out, epochs=6), resume=True)
    assert [h["epoch"] for h in resumed.history] == [1, 2, 3, 4, 5, 6]
    assert resumed.history[-1]["Pneumonia"] >= 0.75

    weights = out / "tiny.safetensors"
    summary = export_classifier(resumed, weights, model_id="tiny", version="1")
    assert json.loads(weights.with_suffix(".json").read_text())["sha256"] == summary["sha256"]
    with safe_open(str(weights), framework="pt") as handle:
        metadata = handle.metadata()
    assert json.loads(metadata["findings"]) == ["Pneumonia", "Pleural Effusion"]
    assert set(json.loads(metadata["thresholds"])) == {"Pneumonia", "Pleural Effusion"}
    spec = ClassifierSpec("tiny", "1", resumed.findings, 64, CxrNetClassifier, weights.name, summary["sha256"])
    classifier = CxrNetClassifier(spec, weights)
    for name, value in resumed.model.state_dict().items():
        torch.testing.assert_close(classifier.network.state_dict()[name], value)


def test_training_is_deterministic_for_a_seed(manifest, tmp_path):
    a = train_classifier(_config(manifest, tmp_path / "a", epochs=1))
    b = train_classifier(_config(manifest, tmp_path / "b", epochs=1))
    assert a.history[0]["loss"] == pytest.approx(b.history[0]["loss"], rel=1e-5)


def test_cli_trains_exports_and_writes_a_card(manifest, tmp_path):
    from typer.testing import CliRunner

    from januscxr.cli.app import app

    out, card = tmp_path / "cli-run", tmp_path / "card.md"
    arguments = ["train", "classifier", "--manifest", str(manifest), "--out", str(out), "--input-size", "64"]
    arguments += [
        "--max-epochs",
        "1",
        "--min-positives",
        "3",
        "--batch-size",
        "8",
        "--model-id",
        "tiny",
        "--card",
        str(card),
    ]
    outcome = CliRunner().invoke(app, arguments)
    assert outcome.exit_code == 0, outcome.output
    assert (out / "tiny.safetensors").exists()
    text = card.read_text()
    assert "# Model card: tiny" in text and "decision support, not a diagnosis" in text
    assert "| Pneumonia |" in text and "CC BY 4.0" in text


def test_cli_manifest_of_the_shared_data(shared_data, tmp_path):
    from typer.testing import CliRunner

    from januscxr.cli.app import app

    out = tmp_path / "manifest.csv"
    outcome = CliRunner().invoke(app, ["train", "manifest", str(shared_data), "--out", str(out)])
    assert outcome.exit_code == 0, outcome.output
    m = read_manifest(out)
    counts = m.positives()
    assert counts[Finding.PNEUMONIA] > 3000 and counts[Finding.PLEURAL_EFFUSION] > 100
    assert all(p.exists() for p in m.paths[:: max(1, len(m.paths) // 50)])
