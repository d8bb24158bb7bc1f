"""The training loop: patient-grouped split, masked weighted loss, early stopping, resume."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F  # noqa: N812
from tqdm import tqdm

from januscxr.eval.classification import roc_auc
from januscxr.labels import Finding
from januscxr.models.cxrnet import CxrNet
from januscxr.training.augment import augment_batch, standardize_batch
from januscxr.training.images import load_images
from januscxr.training.manifest import Manifest, read_manifest, split_by_patient

logger = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    """Everything a run depends on; saved in every checkpoint."""

    manifest: str
    out_dir: str
    findings: list[str] = field(default_factory=list)  # empty: those with >= min_positives
    min_positives: int = 50
    input_size: int = 128
    widths: list[int] = field(default_factory=lambda: [32, 64, 128, 256])
    batch_size: int = 64
    max_epochs: int = 30
    patience: int = 5
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    valid_fraction: float = 0.2
    seed: int = 0
    max_pos_weight: float = 10.0


@dataclass
class TrainState:
    epoch: int = 0
    best_score: float = -1.0
    best_epoch: int = 0
    history: list[dict[str, float]] = field(default_factory=list)


@dataclass(frozen=True)
class TrainedModel:
    """The best model with its validation logits, ready for calibration and export."""

    model: CxrNet
    config: TrainConfig
    findings: tuple[Finding, ...]
    valid_logits: npt.NDArray[np.float32]  # (N_valid, K)
    valid_labels: npt.NDArray[np.float32]  # (N_valid, K), NaN where unlabelled
    history: list[dict[str, float]]


def choose_findings(manifest: Manifest, config: TrainConfig) -> tuple[Finding, ...]:
    if config.findings:
        return tuple(Finding.coerce(f) for f in config.findings)
    counts = manifest.positives()
    return tuple(f for f in manifest.findings if counts[f] >= config.min_positives)


def train_classifier(config: TrainConfig, *, resume: bool = False) -> TrainedModel:
    """Train with early stopping on the mean validation AUROC; checkpoints every epoch."""
    torch.manual_seed(config.seed)
    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    manifest = read_manifest(config.manifest)
    findings = choose_findings(manifest, config)
    manifest = manifest.select(findings)
    pixels, readable = load_images(manifest.paths, config.input_size, out / f"images-{config.input_size}.npz")
    is_valid = split_by_patient(manifest.patient_ids, config.valid_fraction, config.seed)
    train_rows = np.flatnonzero(readable & ~is_valid)
    valid_rows = np.flatnonzero(readable & is_valid)
    logger.info("findings %s; %d train, %d valid images", [f.value for f in findings], len(train_rows), len(valid_rows))

    model = CxrNet(len(findings), tuple(config.widths))
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.max_epochs)
    generator = torch.Generator().manual_seed(config.seed)
    state = TrainState()
    if resume and (out / "last.pt").exists():
        state = _load_checkpoint(out / "last.pt", model, optimizer, scheduler, generator)
        logger.info("resumed after epoch %d", state.epoch)

    labels = torch.from_numpy(manifest.labels)
    pos_weight = positive_weights(manifest.labels[train_rows], config.max_pos_weight)
    images = torch.from_numpy(pixels)
    while state.epoch < config.max_epochs and state.epoch - state.best_epoch < config.patience:
        loss = _train_epoch(model, optimizer, images, labels, train_rows, pos_weight, config, generator, state.epoch)
        scheduler.step()
        logits = predict_logits(model, images[valid_rows])
        aucs = finding_aucs(logits, manifest.labels[valid_rows])
        score = float(np.nanmean(aucs))
        state.epoch += 1
        state.history.append(
            {"epoch": state.epoch, "loss": loss, "mean_auc": score}
            | {f.value: a for f, a in zip(findings, aucs, strict=True)}
        )
        logger.info("epoch %d loss %.4f valid mean AUC %.4f", state.epoch, loss, score)
        if score > state.best_score:
            state.best_score, state.best_epoch = score, state.epoch
            torch.save(model.state_dict(), out / "best.pt")
        _save_checkpoint(out / "last.pt", model, optimizer, scheduler, generator, state, config)

    model.load_state_dict(torch.load(out / "best.pt", weights_only=True))
    logits = predict_logits(model, images[valid_rows])
    return TrainedModel(model, config, findings, logits, manifest.labels[valid_rows], state.history)


def _train_epoch(
    model: CxrNet,
    optimizer: torch.optim.Optimizer,
    images: torch.Tensor,
    labels: torch.Tensor,
    rows: npt.NDArray[np.int64],
    pos_weight: torch.Tensor,
    config: TrainConfig,
    generator: torch.Generator,
    epoch: int,
) -> float:
    model.train()
    order = torch.from_numpy(rows)[torch.randperm(len(rows), generator=generator)]
    total, batches = 0.0, 0
    progress = tqdm(order.split(config.batch_size), desc=f"epoch {epoch + 1}/{config.max_epochs}", unit="batch")
    for batch in progress:
        x = images[batch].unsqueeze(1).float() / 255.0  # (B, 1, S, S)
        x = standardize_batch(augment_batch(x, generator))
        y = labels[batch]  # (B, K), NaN where unlabelled
        known = ~torch.isnan(y)
        raw = F.binary_cross_entropy_with_logits(model(x), torch.nan_to_num(y), pos_weight=pos_weight, reduction="none")
        loss = (raw * known).sum() / known.sum().clamp_min(1)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total, batches = total + loss.item(), batches + 1
        progress.set_postfix(loss=f"{total / batches:.4f}")
    return total / max(batches, 1)


@torch.inference_mode()
def predict_logits(model: CxrNet, images: torch.Tensor, batch_size: int = 256) -> npt.NDArray[np.float32]:
    """Logits (N, K) for uint8 images (N, S, S), without augmentation."""
    model.eval()
    outputs = [model(standardize_batch(chunk.unsqueeze(1).float() / 255.0)) for chunk in images.split(batch_size)]
    return torch.cat(outputs).numpy()


def finding_aucs(logits: npt.NDArray[np.float32], labels: npt.NDArray[np.float32]) -> list[float]:
    """Each finding's AUROC over the images that label it (NaN: unlabelled)."""
    aucs = []
    for k in range(labels.shape[1]):
        known = ~np.isnan(labels[:, k])
        aucs.append(roc_auc(labels[known, k], logits[known, k]))
    return aucs


def positive_weights(labels: npt.NDArray[np.float32], cap: float) -> torch.Tensor:
    """The loss weight of each finding's positives: negatives per positive, between 1 and ``cap``."""
    positives = np.nansum(labels, axis=0)
    negatives = np.sum(labels == 0, axis=0)
    return torch.tensor(np.clip(negatives / np.maximum(positives, 1), 1.0, cap), dtype=torch.float32)


def _save_checkpoint(
    path: Path,
    model: CxrNet,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    generator: torch.Generator,
    state: TrainState,
    config: TrainConfig,
) -> None:
    checkpoint = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "generator": generator.get_state(),
        "state": asdict(state),
        "config": asdict(config),
    }
    torch.save(checkpoint, path.with_suffix(".tmp"))
    path.with_suffix(".tmp").replace(path)  # never leave a half-written checkpoint


def _load_checkpoint(
    path: Path,
    model: CxrNet,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    generator: torch.Generator,
) -> TrainState:
    checkpoint = torch.load(path, weights_only=True)
    model.load_state_dict(checkpoint["model"])
    optimizer.load_state_dict(checkpoint["optimizer"])
    scheduler.load_state_dict(checkpoint["scheduler"])
    generator.set_state(checkpoint["generator"])
    return TrainState(**checkpoint["state"])
