"""Patient-grouped cross-validation: folds, inner split, out-of-fold coverage, the offered rule, end to end."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from PIL import Image as PILImage
from typer.testing import CliRunner

from januscxr.cli.train import app
from januscxr.errors import ConfigurationError, ManifestError
from januscxr.labels import Finding
from januscxr.training import crossval
from januscxr.training.crossval import (
    OFFER_MIN_AUC,
    CrossValConfig,
    cross_validate,
    inner_split,
    patient_folds,
    score_out_of_fold,
)
from januscxr.training.manifest import Manifest, read_manifest


def _write_manifest(tmp_path, name: str, prefix: str, n_patients: int) -> str:
    """Two images per patient; a bright blob means Pneumonia; effusion labelled on the second half."""
    rng = np.random.default_rng(len(prefix) + n_patients)
    rows = []
    for i in range(2 * n_patients):
        positive = (i // 2) % 2 == 0
        pixels = rng.normal(0.4, 0.05, (64, 64))
        if positive:
            pixels[16:48, 8:28] += 0.5
        path = tmp_path / f"{name}-{i}.png"
        PILImage.fromarray(np.uint8(np.clip(pixels, 0, 1) * 255)).save(path)
        effusion = "" if i < n_patients else str(int(i % 4 == 0))
        patient = f"{prefix}:{i // 2}"
        rows.append(
            {"path": path.name, "patient_id": patient, "Pneumonia": str(int(positive)), "Pleural Effusion": effusion}
        )
    path = tmp_path / f"{name}.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return str(path)


def _config(manifest: str, out, **overrides) -> CrossValConfig:
    settings = {
        "input_size": 32,
        "widths": [4, 8, 8, 8],
        "batch_size": 16,
        "max_epochs": 2,
        "patience": 5,
        "min_positives": 3,
        "folds": 4,
        "n_boot": 50,
    }
    return CrossValConfig(manifest, str(out), **(settings | overrides))


def test_folds_never_share_a_patient_and_balance_sources():
    ids = [f"kermany:{i // 3}" for i in range(300)] + [f"nih:{i // 4}" for i in range(80)]
    fold = patient_folds(ids, 5, seed=1)
    for k in range(5):
        inside = {p for p, f in zip(ids, fold, strict=True) if f == k}
        outside = {p for p, f in zip(ids, fold, strict=True) if f != k}
        assert inside and not inside & outside
        assert sum(p.startswith("nih:") for p in inside) == 4  # 20 NIH patients dealt evenly
    assert (patient_folds(ids, 5, seed=1) == fold).all()


def test_inner_split_lies_inside_the_training_folds():
    ids = [f"p{i // 2}" for i in range(200)]
    fold = patient_folds(ids, 5, seed=0)
    for k in range(5):
        train_rows = np.flatnonzero(fold != k)
        fit, choose = inner_split(train_rows, ids, 0.2, seed=0)
        assert not set(choose) & set(np.flatnonzero(fold == k))
        assert set(fit) | set(choose) == set(train_rows) and not set(fit) & set(choose)
        assert not {ids[i] for i in fit} & {ids[i] for i in choose}


def test_the_test_fold_never_influences_the_epoch_or_the_model(tmp_path):
    manifest_path = _write_manifest(tmp_path, "m", "nih", 12)
    config = _config(manifest_path, tmp_path / "out", max_epochs=2)
    manifest = read_manifest(manifest_path)
    images = torch.from_numpy(np.stack([np.asarray(PILImage.open(p).resize((32, 32))) for p in manifest.paths]))
    fold = patient_folds(manifest.patient_ids, 4, seed=0)
    train_rows, test_rows = np.flatnonzero(fold != 0), np.flatnonzero(fold == 0)
    results = []
    for flip in (False, True):
        labels = manifest.labels.copy()
        if flip:  # scramble the test fold's labels: nothing the fold model does may change
            labels[test_rows] = 1.0 - np.nan_to_num(labels[test_rows], nan=0.0)
        torch.manual_seed(0)
        progress = crossval.tqdm(total=2, disable=True)
        results.append(
            crossval._fit_fold(
                config, images, torch.from_numpy(labels), train_rows, test_rows, manifest, None, progress
            )
        )
    (logits_a, epochs_a), (logits_b, epochs_b) = results
    assert epochs_a == epochs_b
    np.testing.assert_array_equal(logits_a, logits_b)


def test_offered_only_when_the_ci_lower_bound_clears_the_bar():
    rng = np.random.default_rng(0)
    n = 200
    patients = [f"nih:{i // 2}" for i in range(n)]
    truth = ((np.arange(n) // 2) % 2 == 0).astype(np.float32)  # whole patients positive or negative
    separable = truth * 3 + rng.normal(0, 0.5, n)
    noise = rng.normal(0, 1, n)
    manifest = Manifest([], patients, (Finding.PNEUMONIA, Finding.CARDIOMEGALY), np.stack([truth, truth], 1))
    oof = np.stack([separable, noise], 1).astype(np.float32)
    report = score_out_of_fold(oof, manifest, np.ones(n, bool), n_boot=200, seed=0)
    strong, weak = report["Pneumonia"], report["Cardiomegaly"]
    assert strong["offered"] and strong["auc_ci95"][0] > OFFER_MIN_AUC
    assert not weak["offered"] and weak["auc_ci95"][0] <= OFFER_MIN_AUC
    assert strong["positives"] == 100 and strong["patients"] == 100 and strong["positive_patients"] == 50


def test_end_to_end_covers_every_image_once_and_resumes(tmp_path, monkeypatch):
    manifest_path = _write_manifest(tmp_path, "m", "nih", 16)
    out = tmp_path / "out"
    report = cross_validate(_config(manifest_path, out))
    stored = [np.load(out / f"fold-{k}.npz") for k in range(4)]
    assert sum(len(s["logits"]) for s in stored) == 32  # every image predicted by exactly one fold model
    oof = np.load(out / "oof.npz")
    assert (oof["times_predicted"] == 1).all() and not np.isnan(oof["logits"]).any()
    assert set(report["findings"]) == {"Pneumonia", "Pleural Effusion"}
    assert report["findings"]["Pneumonia"]["positives"] == 16
    assert report["recipe"]["folds"] == 4 and len(report["chosen_epochs"]) == 4

    def refuse(*args, **kwargs):
        raise AssertionError("a saved fold was trained again")

    monkeypatch.setattr(crossval, "_fit_fold", refuse)
    again = cross_validate(_config(manifest_path, out))
    assert again["findings"] == report["findings"]
    assert again["fold_wall_s"] == report["fold_wall_s"]  # the resumed run reports the folds' own times
    with pytest.raises(ConfigurationError, match="max_epochs=2, this run has 3"):
        cross_validate(_config(manifest_path, out, max_epochs=3))  # never mixes folds of two recipes


def test_pretraining_on_shared_patients_is_refused(tmp_path):
    manifest_path = _write_manifest(tmp_path, "m", "nih", 8)
    with pytest.raises(ManifestError, match="also in"):
        cross_validate(_config(manifest_path, tmp_path / "out", pretrain_manifest=manifest_path))


def test_cli_runs_with_pretraining_strong_augmentation_and_members(tmp_path):
    manifest_path = _write_manifest(tmp_path, "m", "nih", 12)
    pretrain = _write_manifest(tmp_path, "k", "kermany", 8)
    out = tmp_path / "out"
    args = ["cv", "--manifest", manifest_path, "--out", str(out), "--folds", "3", "--input-size", "32"]
    args += ["--max-epochs", "1", "--min-positives", "3", "--augmentation", "strong", "--members", "2"]
    args += ["--pretrain-manifest", pretrain, "--pretrain-epochs", "1"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "CV AUC" in result.output
    document = json.loads((out / "cv.json").read_text())
    assert document["recipe"]["augmentation"] == "strong" and document["recipe"]["members"] == 2
    assert all(len(epochs) == 2 for epochs in document["chosen_epochs"])
    assert (out / "pretrain.pt").exists()
    assert "| Pneumonia | 24 |" in (out / "cv.md").read_text()
    compared = CliRunner().invoke(app, ["cv-compare", str(out), str(out)])
    assert compared.exit_code == 0, compared.output
    assert "difference +0.000 [+0.000, +0.000]" in compared.output  # a run against itself
