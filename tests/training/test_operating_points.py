"""Urgent thresholds chosen on half A of the validation patients, measured on half B."""

from __future__ import annotations

import csv
import json

import numpy as np
from PIL import Image as PILImage
from typer.testing import CliRunner

from januscxr.cli.app import app
from januscxr.labels import Finding
from januscxr.models.calibration import MIN_URGENT_POSITIVES
from januscxr.models.cxrnet_classifier import CxrNetClassifier
from januscxr.training.manifest import split_by_patient
from januscxr.training.operating_points import choose_operating_points, validation_cases
from tests.models.tiny import TINY_FINDINGS, write_tiny_classifier

FINDINGS = (Finding.PNEUMONIA, Finding.CARDIOMEGALY)


def _synthetic(seed: int = 0):
    """300 patients of 1 to 4 images; many pneumonia positives, 12 cardiomegaly positives."""
    rng = np.random.default_rng(seed)
    patients = np.repeat([f"p{i}" for i in range(300)], rng.integers(1, 5, 300))
    n = patients.size
    labels = np.zeros((n, 2), np.float32)
    labels[:, 0] = rng.random(n) < 0.4
    labels[rng.choice(n, 12, replace=False), 1] = 1
    labels[rng.random(n) < 0.1, 1] = np.nan  # unlabelled: left out
    p = np.clip(rng.normal(np.where(labels == 1, 0.65, 0.3), 0.15), 0, 1)
    return p, labels, list(patients)


def test_urgent_thresholds_are_95_percent_specific_on_half_a():
    p, labels, patients = _synthetic()
    report = choose_operating_points(p, labels, patients, FINDINGS, [0.4, 0.2], half_seed=3)
    in_b = split_by_patient(patients, 0.5, 3)
    assert not set(np.asarray(patients)[in_b]) & set(np.asarray(patients)[~in_b])  # patient-disjoint
    for k, finding in enumerate(FINDINGS):
        v = report[finding.value]
        known = ~np.isnan(labels[:, k])
        a, b = known & ~in_b, known & in_b
        negatives_a = p[a & (labels[:, k] == 0), k]
        assert (negatives_a < v["urgent_threshold"]).mean() >= 0.95
        assert v["urgent_threshold"] >= v["threshold"]
        assert v["half_a"]["positives"] == int(labels[a, k].sum())
        half_b = v["half_b"]
        assert half_b["positives"] + half_b["negatives"] == int(b.sum())
        for point in ("sensitive", "urgent"):
            m = half_b[point]
            assert m["sensitivity_ci95"][0] <= m["sensitivity"] <= m["sensitivity_ci95"][1]
            assert m["specificity_ci95"][0] <= m["specificity"] <= m["specificity_ci95"][1]
    assert report["Pneumonia"]["reliable"]
    assert report["Cardiomegaly"]["half_a"]["positives"] < MIN_URGENT_POSITIVES
    assert not report["Cardiomegaly"]["reliable"]


def _manifest(tmp_path):
    rng = np.random.default_rng(0)
    rows = []
    for i in range(60):
        path = tmp_path / f"img{i}.png"
        PILImage.fromarray((rng.random((72, 72)) * 255).astype(np.uint8)).save(path)
        row = {"path": path.name, "patient_id": f"pt{i // 2}"}
        rows.append(row | {f.value: str(int(rng.random() < 0.5)) for f in TINY_FINDINGS})
    with (tmp_path / "manifest.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return tmp_path / "manifest.csv"


def test_command_writes_thresholds_card_and_report(tmp_path):
    manifest = _manifest(tmp_path)
    weights = tmp_path / "tiny.safetensors"
    spec = write_tiny_classifier(weights)
    card = tmp_path / "card.md"
    card.write_text(f"| weights | `w`, 1 MB, sha256 `{'0' * 64}` |\n\n## Calibration and operating points\n\nrules\n")
    out = tmp_path / "out.safetensors"
    args = ["train", "operating-points", "--manifest", str(manifest), "--weights", str(weights)]
    args += ["--out", str(out), "--card", str(card), "--report", str(tmp_path / "r.json"), "--seed", "1"]
    outcome = CliRunner().invoke(app, args)
    assert outcome.exit_code == 0, outcome.output
    summary = json.loads((tmp_path / "r.json").read_text())
    assert summary["cases"] == len(validation_cases(manifest, seed=1).paths) == 12  # 20% of 30 patients
    text = card.read_text()
    assert summary["sha256"] in text and text.index("## Operating points") < text.index("## Calibration")
    assert text.count("threshold unreliable (") == len(TINY_FINDINGS)  # 12 cases: under 20 positives
    classifier = CxrNetClassifier(spec, out)
    assert classifier.urgent_thresholds == [None] * len(TINY_FINDINGS)
    assert CliRunner().invoke(app, args).exit_code == 0
    assert card.read_text().count("## Operating points") == 1  # replaced, not appended
