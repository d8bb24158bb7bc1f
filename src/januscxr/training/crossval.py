"""Patient-grouped K-fold cross-validation of a classifier recipe: honest AUCs with patient-grouped CIs.

Every patient is in exactly one test fold. In each fold the model is trained on the other folds
and its epoch (early stopping on the mean AUC) is chosen on an inner patient-grouped split of
those training folds only; the test fold is predicted once, by the chosen epoch. The out-of-fold
(OOF) predictions of all folds are pooled, and each finding's AUC gets a 95% CI from a bootstrap
of whole patients over the pooled predictions. A finding is *offered* only when that CI's lower
bound is above ``OFFER_MIN_AUC``.

Options of the recipe: ``augmentation="strong"`` (random zoom-crops and erasing on top of the
standard augmentation), ``pretrain_manifest`` (initialise every fold model from a network trained
on a disjoint set of patients, e.g. the pneumonia task, before the findings), and ``members``
(an ensemble per fold, each member with its own inner split, averaged: the outer CV estimates
the ensemble itself, no nested CV needed).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F  # noqa: N812
from tqdm import tqdm

from januscxr.errors import ConfigurationError, ManifestError
from januscxr.eval.classification import roc_auc
from januscxr.labels import Finding
from januscxr.models.cxrnet import CxrNet
from januscxr.training.augment import augment_batch, standardize_batch
from januscxr.training.calibrate import grouped_bootstrap_ci
from januscxr.training.images import load_images
from januscxr.training.manifest import Manifest, read_manifest, split_by_patient
from januscxr.training.trainer import TrainConfig, choose_findings, finding_aucs, positive_weights, predict_logits

logger = logging.getLogger(__name__)
OFFER_MIN_AUC = 0.6
Rows = npt.NDArray[np.int64]


@dataclass
class CrossValConfig(TrainConfig):
    """A training recipe (:class:`TrainConfig`) plus how it is cross-validated."""

    folds: int = 5
    augmentation: str = "standard"  # or "strong"
    pretrain_manifest: str = ""  # patients disjoint from ``manifest``; empty: from scratch
    pretrain_epochs: int = 8
    members: int = 1
    n_boot: int = 1000


def patient_folds(patient_ids: list[str], folds: int, seed: int) -> Rows:
    """Fold index per row: whole patients, shuffled, dealt round-robin within each source.

    The source is the patient id's prefix before ':' (``kermany:``, ``nih:``), so every fold
    holds about the same share of each source.
    """
    patients = np.array(sorted(set(patient_ids)))
    rng = np.random.default_rng(seed)
    patients = patients[rng.permutation(len(patients))]
    sources = np.array([p.split(":", 1)[0] if ":" in p else "" for p in patients])
    patients = patients[np.argsort(sources, kind="stable")]
    fold_of = {p: i % folds for i, p in enumerate(patients)}
    return np.array([fold_of[p] for p in patient_ids], dtype=np.int64)


def inner_split(train_rows: Rows, patient_ids: list[str], valid_fraction: float, seed: int) -> tuple[Rows, Rows]:
    """(fit rows, epoch-choosing rows): a patient-grouped split of the training folds only."""
    is_valid = split_by_patient([patient_ids[i] for i in train_rows], valid_fraction, seed)
    return train_rows[~is_valid], train_rows[is_valid]


def cross_validate(config: CrossValConfig, *, resume: bool = True) -> dict[str, Any]:
    """Run every fold (skipping those already saved in ``out_dir`` when ``resume``) and score the pooled OOF."""
    torch.manual_seed(config.seed)
    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _check_recipe(out / "recipe.json", config, resume)
    manifest = read_manifest(config.manifest)
    findings = choose_findings(manifest, config)
    manifest = manifest.select(findings)
    cache = out / f"{Path(config.manifest).stem}-{config.input_size}.npz"
    pixels, readable = load_images(manifest.paths, config.input_size, cache)
    images, labels = torch.from_numpy(pixels), torch.from_numpy(manifest.labels)
    backbone = _pretrained_backbone(config, manifest, out) if config.pretrain_manifest else None
    fold_of = patient_folds(manifest.patient_ids, config.folds, config.seed)
    oof = np.full(manifest.labels.shape, np.nan, dtype=np.float32)  # (N, K) out-of-fold logits
    times_predicted = np.zeros(len(oof), dtype=np.int64)
    started = time.monotonic()
    progress = tqdm(total=config.folds * config.members * config.max_epochs, desc="cross-validation", unit="epoch")
    fold_epochs: list[list[int]] = []
    fold_wall_s: list[float] = []  # NaN for a fold saved by an older januscxr
    for fold in range(config.folds):
        test_rows = np.flatnonzero(readable & (fold_of == fold))
        saved = out / f"fold-{fold}.npz"
        if resume and saved.exists():
            stored = np.load(saved)
            oof[test_rows], epochs = stored["logits"], stored["epochs"].tolist()
            fold_wall_s.append(float(stored["wall_s"]) if "wall_s" in stored else float("nan"))
            progress.update(config.members * config.max_epochs)
        else:
            fold_started = time.monotonic()
            train_rows = np.flatnonzero(readable & (fold_of != fold))
            logits, epochs = _fit_fold(config, images, labels, train_rows, test_rows, manifest, backbone, progress)
            oof[test_rows] = logits
            fold_wall_s.append(round(time.monotonic() - fold_started, 1))
            np.savez(saved, logits=logits, epochs=np.array(epochs), wall_s=fold_wall_s[-1])
        fold_epochs.append(epochs)
        times_predicted[test_rows] += 1
    progress.close()
    np.savez(out / "oof.npz", logits=oof, fold=fold_of, times_predicted=times_predicted)
    return {
        "recipe": asdict(config),
        "findings": score_out_of_fold(oof, manifest, readable, n_boot=config.n_boot, seed=config.seed),
        "images": int(readable.sum()),
        "unreadable": int((~readable).sum()),
        "patients": len(set(manifest.patient_ids)),
        "chosen_epochs": fold_epochs,
        "wall_s": round(time.monotonic() - started, 1),  # this invocation only
        "fold_wall_s": fold_wall_s,
        "offer_rule": f"offered when the cross-validated AUC's 95% CI lower bound > {OFFER_MIN_AUC}",
    }


def _check_recipe(path: Path, config: CrossValConfig, resume: bool) -> None:
    """Saved folds are reused only by the recipe that made them; a fresh run records its recipe."""
    recipe = {k: v for k, v in asdict(config).items() if k not in ("out_dir", "n_boot")}
    if resume and path.exists():
        saved = json.loads(path.read_text(encoding="utf-8"))
        changed = sorted(k for k in recipe.keys() | saved.keys() if recipe.get(k) != saved.get(k))
        if changed:
            raise ConfigurationError(
                f"{path}: saved folds were made with {changed[0]}={saved.get(changed[0])!r}, this run has "
                f"{recipe.get(changed[0])!r}; expected the same recipe (or --fresh, or another --out)"
            )
    path.write_text(json.dumps(recipe, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _fit_fold(
    config: CrossValConfig,
    images: torch.Tensor,
    labels: torch.Tensor,
    train_rows: Rows,
    test_rows: Rows,
    manifest: Manifest,
    backbone: dict[str, torch.Tensor] | None,
    progress: tqdm[Any],
) -> tuple[npt.NDArray[np.float32], list[int]]:
    """Test-fold logits averaged over ``members`` models, each early-stopped on its own inner split."""
    logits, epochs = [], []
    for member in range(config.members):
        fit_rows, choose_rows = inner_split(
            train_rows, manifest.patient_ids, config.valid_fraction, config.seed + member
        )
        model, best_epoch = _train_early_stopped(config, images, labels, fit_rows, choose_rows, backbone, progress)
        logits.append(predict_logits(model, images[test_rows]))
        epochs.append(best_epoch)
    return np.mean(logits, axis=0).astype(np.float32), epochs


def _train_early_stopped(
    config: CrossValConfig,
    images: torch.Tensor,
    labels: torch.Tensor,
    fit_rows: Rows,
    choose_rows: Rows,
    backbone: dict[str, torch.Tensor] | None,
    progress: tqdm[Any],
) -> tuple[CxrNet, int]:
    """The model at the epoch with the best mean AUC on ``choose_rows`` (never the test fold)."""
    model = CxrNet(labels.shape[1], tuple(config.widths))
    if backbone is not None:
        model.load_state_dict(backbone, strict=False)  # the head stays freshly initialised
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.max_epochs)
    generator = torch.Generator().manual_seed(config.seed)
    pos_weight = positive_weights(labels[fit_rows].numpy(), config.max_pos_weight)
    best_score, best_epoch, best_state = -1.0, 0, model.state_dict()
    choose_labels = labels[choose_rows].numpy()
    for epoch in range(1, config.max_epochs + 1):
        train_epoch(model, optimizer, images, labels, fit_rows, pos_weight, config, generator)
        scheduler.step()
        aucs = np.array(finding_aucs(predict_logits(model, images[choose_rows]), choose_labels))
        score = float(np.nanmean(aucs)) if np.isfinite(aucs).any() else 0.0  # no finding with both classes
        if score > best_score:
            best_score, best_epoch = score, epoch
            best_state = {k: v.clone() for k, v in model.state_dict().items()}
        progress.update(1)
        progress.set_postfix(epoch=epoch, inner_auc=f"{score:.3f}", best=best_epoch)
        if epoch - best_epoch >= config.patience:
            progress.update(config.max_epochs - epoch)
            break
    model.load_state_dict(best_state)
    return model, best_epoch


def train_epoch(
    model: CxrNet,
    optimizer: torch.optim.Optimizer,
    images: torch.Tensor,
    labels: torch.Tensor,
    rows: Rows,
    pos_weight: torch.Tensor,
    config: CrossValConfig,
    generator: torch.Generator,
) -> float:
    """One pass of masked, class-weighted BCE over ``rows`` with the recipe's augmentation."""
    model.train()
    order = torch.from_numpy(rows)[torch.randperm(len(rows), generator=generator)]
    total, batches = 0.0, 0
    for batch in order.split(config.batch_size):
        x = augment_batch(images[batch].unsqueeze(1).float() / 255.0, generator)  # (B, 1, S, S)
        if config.augmentation == "strong":
            x = strong_augment(x, generator)
        y = labels[batch]  # (B, K), NaN where unlabelled
        known = ~torch.isnan(y)
        raw = F.binary_cross_entropy_with_logits(
            model(standardize_batch(x)), torch.nan_to_num(y), pos_weight=pos_weight, reduction="none"
        )
        loss = (raw * known).sum() / known.sum().clamp_min(1)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total, batches = total + loss.item(), batches + 1
    return total / max(batches, 1)


def strong_augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """On top of :func:`augment_batch`: a random zoom-crop (70-100% of the side) and one erased rectangle."""
    b, _, s, _ = x.shape
    scale = 0.7 + 0.3 * torch.rand(b, generator=generator)
    shift = (1 - scale).unsqueeze(1) * (2 * torch.rand(b, 2, generator=generator) - 1)
    zeros = torch.zeros(b)
    theta = torch.stack([torch.stack([scale, zeros, shift[:, 0]], 1), torch.stack([zeros, scale, shift[:, 1]], 1)], 1)
    x = F.grid_sample(x, F.affine_grid(theta, list(x.shape), align_corners=False), align_corners=False)
    sides = (s * (0.1 + 0.25 * torch.rand(b, 2, generator=generator))).long()
    corners = (torch.rand(b, 2, generator=generator) * (s - sides)).long()
    erase = torch.rand(b, generator=generator) < 0.5
    for i in np.flatnonzero(erase.numpy()):
        (top, left), (h, w) = corners[i].tolist(), sides[i].tolist()
        x[i, :, top : top + h, left : left + w] = x[i].mean()
    return x


def _pretrained_backbone(config: CrossValConfig, manifest: Manifest, out: Path) -> dict[str, torch.Tensor]:
    """Stem and stages of a network trained on ``pretrain_manifest`` (cached); its patients must be disjoint."""
    pretrain = read_manifest(config.pretrain_manifest)
    shared = set(pretrain.patient_ids) & set(manifest.patient_ids)
    if shared:
        raise ManifestError(
            f"{config.pretrain_manifest}: {len(shared)} patient(s) also in {config.manifest} "
            f"(e.g. {sorted(shared)[0]!r}); expected disjoint patients, or the test folds would leak"
        )
    path = out / "pretrain.pt"
    if path.exists():
        state: dict[str, torch.Tensor] = torch.load(path, weights_only=True)
        return state
    pixels, readable = load_images(
        pretrain.paths, config.input_size, out / f"{Path(config.pretrain_manifest).stem}-{config.input_size}.npz"
    )
    labels = torch.from_numpy(pretrain.labels)
    rows = np.flatnonzero(readable)
    model = CxrNet(labels.shape[1], tuple(config.widths))
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    generator = torch.Generator().manual_seed(config.seed)
    pos_weight = positive_weights(pretrain.labels[rows], config.max_pos_weight)
    for _ in tqdm(range(config.pretrain_epochs), desc="pretrain", unit="epoch"):
        train_epoch(model, optimizer, torch.from_numpy(pixels), labels, rows, pos_weight, config, generator)
    state = {k: v for k, v in model.state_dict().items() if not k.startswith("head.")}
    torch.save(state, path)
    return state


def score_out_of_fold(
    oof: npt.NDArray[np.float32], manifest: Manifest, readable: npt.NDArray[np.bool_], *, n_boot: int, seed: int
) -> dict[str, dict[str, Any]]:
    """Per finding: pooled OOF AUC, patient-grouped bootstrap 95% CI, counts, offered; and per source."""
    report: dict[str, dict[str, Any]] = {}
    patients = np.array(manifest.patient_ids)
    sources = np.array([p.split(":", 1)[0] if ":" in p else "" for p in manifest.patient_ids])
    for k, finding in enumerate(manifest.findings):
        known = readable & ~np.isnan(manifest.labels[:, k])
        entry = _auc_entry(oof[known, k], manifest.labels[known, k], patients[known], n_boot, seed + k)
        entry["offered"] = bool(entry["auc_ci95"][0] > OFFER_MIN_AUC)
        labelled_sources = sorted(set(sources[known].tolist()))
        if len(labelled_sources) > 1:  # a pooled AUC can hide a source where the model fails
            entry["by_source"] = {
                source: _auc_entry(oof[rows, k], manifest.labels[rows, k], patients[rows], n_boot, seed + k)
                for source in labelled_sources
                for rows in [known & (sources == source)]
            }
        report[finding.value] = entry
    return report


def _auc_entry(
    scores: npt.NDArray[np.float32], labels: npt.NDArray[np.float32], patients: npt.NDArray[Any], n_boot: int, seed: int
) -> dict[str, Any]:
    truth = labels.astype(bool)
    ci = grouped_bootstrap_ci(lambda r: roc_auc(truth[r], scores[r]), patients.tolist(), n_boot=n_boot, seed=seed)
    return {
        "auc": roc_auc(truth, scores),
        "auc_ci95": list(ci),
        "positives": int(truth.sum()),
        "negatives": int((~truth).sum()),
        "patients": len(set(patients.tolist())),
        "positive_patients": len(set(patients[truth].tolist())),
    }


def compare_runs(run_a: str | Path, run_b: str | Path, *, n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Paired difference of the OOF AUCs of two runs (B - A) on the images both scored, per shared finding.

    Images are matched by path; the 95% CI resamples whole patients, both runs' predictions
    together, so it is the CI of the difference, not of either AUC.
    """
    runs = [_load_run(Path(run)) for run in (run_a, run_b)]
    (paths_a, findings_a, oof_a, _), (paths_b, findings_b, oof_b, manifest_b) = runs
    where_a = {path: i for i, path in enumerate(paths_a)}
    rows_b = np.array([i for i, path in enumerate(paths_b) if path in where_a], dtype=np.int64)
    rows_a = np.array([where_a[paths_b[i]] for i in rows_b], dtype=np.int64)
    report: dict[str, Any] = {}
    for finding in [f for f in findings_b if f in findings_a]:
        a = oof_a[rows_a, findings_a.index(finding)]
        b = oof_b[rows_b, findings_b.index(finding)]
        labels = manifest_b.labels[rows_b, manifest_b.findings.index(Finding.coerce(finding))]
        keep = ~np.isnan(labels) & ~np.isnan(a) & ~np.isnan(b)
        patients = [manifest_b.patient_ids[i] for i in rows_b[keep]]
        report[finding] = _paired_difference(labels[keep].astype(bool), a[keep], b[keep], patients, n_boot, seed)
    return report


def _paired_difference(
    truth: npt.NDArray[np.bool_],
    a: npt.NDArray[np.float32],
    b: npt.NDArray[np.float32],
    patients: list[str],
    n_boot: int,
    seed: int,
) -> dict[str, Any]:
    auc_a, auc_b = roc_auc(truth, a), roc_auc(truth, b)
    ci = grouped_bootstrap_ci(
        lambda r: roc_auc(truth[r], b[r]) - roc_auc(truth[r], a[r]), patients, n_boot=n_boot, seed=seed
    )
    return {"auc_a": auc_a, "auc_b": auc_b, "difference": auc_b - auc_a, "difference_ci95": list(ci)}


def _load_run(out: Path) -> tuple[list[str], list[str], npt.NDArray[np.float32], Manifest]:
    """A finished run's image paths, findings (OOF column order), OOF logits and manifest."""
    document = json.loads((out / "cv.json").read_text(encoding="utf-8"))
    manifest = read_manifest(document["recipe"]["manifest"])
    findings = list(document["findings"])
    return [str(p) for p in manifest.paths], findings, np.load(out / "oof.npz")["logits"], manifest


def write_report(report: dict[str, Any], path: str | Path) -> Path:
    """``path`` (JSON) and, beside it, the same numbers as a Markdown table (``.md``)."""
    path = Path(path)
    path.write_text(json.dumps(report, indent=2, default=float) + "\n", encoding="utf-8")
    path.with_suffix(".md").write_text(crossval_markdown(report), encoding="utf-8")
    return path


def crossval_markdown(report: dict[str, Any]) -> str:
    """One row per finding (and per source where several label it): CV AUC, 95% CI, counts, offered."""
    lines = [
        "| finding | images scored | CV AUC (95% CI) | positives (patients) / negatives | patients | offered |",
        "|---|---|---|---|---|---|",
    ]
    for finding, v in report["findings"].items():
        rows = [(finding, v, "yes" if v["offered"] else "no")]
        rows += [(f"{finding}, {source} only", s, "") for source, s in v.get("by_source", {}).items()]
        for name, entry, offered in rows:
            low, high = entry["auc_ci95"]
            lines.append(
                f"| {name} | {entry['positives'] + entry['negatives']} | {entry['auc']:.3f} ({low:.3f} to {high:.3f}) "
                f"| {entry['positives']} ({entry['positive_patients']}) / {entry['negatives']} | {entry['patients']} "
                f"| {offered} |"
            )
    return "\n".join(lines) + "\n"
