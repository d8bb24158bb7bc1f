"""Training the chest-radiograph gate, fitting its thresholds on validation, writing safetensors.

Thresholds come from validation chest radiographs only: each check may refuse at most
``refusal_budget`` of them (the four budgets add up to the false-refusal target). The test
split and the held-out negative categories are left for ``benchmarks/bench_gate.py``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from safetensors.torch import save_file
from torch import nn
from torch.nn import functional

from januscxr.models.cxrnet import CxrNet
from januscxr.models.gate import OOD_KEYS, gate_scores
from januscxr.training.gate import CLASSES, GATE_SIZE, load_chest_sets, training_negatives

logger = logging.getLogger(__name__)
MIN_CONTRAST = 0.02  # pixel standard deviation in [0, 1]: below this an image is blank


@dataclass(frozen=True)
class GateTrainConfig:
    """Where the data is and how long to train."""

    data_root: str
    out_dir: str
    seed: int = 0
    epochs: int = 8
    batch_size: int = 64
    learning_rate: float = 3e-3
    negatives: int = 6000
    widths: tuple[int, ...] = field(default=(8, 16, 32, 64))
    refusal_budget: float = 0.002  # per check, on validation chest radiographs


def train_gate(config: GateTrainConfig) -> tuple[CxrNet, dict[str, Any]]:
    """Train the gate CNN, fit the OOD statistics and thresholds; returns the network and a summary."""
    torch.manual_seed(config.seed)
    out = Path(config.out_dir)
    sets = load_chest_sets(config.data_root, seed=config.seed, cache=out / "chest64.npz")
    chests = sets["train"].pixels
    negatives, negative_labels = training_negatives(config.negatives, chests, seed=config.seed)
    pixels = np.concatenate([chests, negatives])
    labels = np.concatenate([np.zeros(len(chests), np.int64), negative_labels])
    network = CxrNet(len(CLASSES), config.widths, dropout=0.1)
    _fit(network, pixels, labels, config)
    network.eval()
    summary = fit_thresholds(network, chests, sets["valid"].pixels, budget=config.refusal_budget)
    summary["config"] = asdict(config)
    summary["data"] = {
        split: {s: sets[split].sources.count(s) for s in sorted(set(sets[split].sources))} for split in sets
    }
    summary["data"]["train_negatives"] = {c: int((negative_labels == k).sum()) for k, c in enumerate(CLASSES) if k}
    return network, summary


def _fit(
    network: CxrNet, pixels: npt.NDArray[np.uint8], labels: npt.NDArray[np.int64], config: GateTrainConfig
) -> None:
    optimizer = torch.optim.AdamW(network.parameters(), lr=config.learning_rate, weight_decay=1e-4)
    steps = config.epochs * (len(pixels) // config.batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, config.learning_rate, total_steps=steps)
    # Chest radiographs are half of the loss, the negative kinds share the other half.
    counts = np.bincount(labels, minlength=len(CLASSES)).astype(np.float32)
    weights = torch.from_numpy(
        np.where(np.arange(len(CLASSES)) == 0, 0.5, 0.5 / (len(CLASSES) - 1)) / counts * len(labels)
    )
    generator = np.random.default_rng(config.seed)
    for epoch in range(config.epochs):
        network.train()
        order = generator.permutation(len(pixels))
        started, total = time.perf_counter(), 0.0
        for first in range(0, len(order) - config.batch_size + 1, config.batch_size):
            index = order[first : first + config.batch_size]
            x = augment(torch.from_numpy(pixels[index]).float() / 255.0, generator)  # (B, 1, S, S)
            loss = functional.cross_entropy(network(x), torch.from_numpy(labels[index]), weight=weights.float())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.item() * len(index)
        logger.info("epoch %d: loss %.4f (%.0f s)", epoch + 1, total / len(order), time.perf_counter() - started)


def augment(batch: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """(B, S, S) in [0, 1] -> (B, 1, S, S) standardised: small rotations, zooms, shifts, flips, gamma."""
    size = len(batch)
    angle = torch.from_numpy(rng.uniform(-0.2, 0.2, size)).float()
    scale = torch.from_numpy(rng.uniform(0.85, 1.15, size)).float()
    shift = torch.from_numpy(rng.uniform(-0.08, 0.08, (size, 2))).float()
    flip = torch.from_numpy(np.where(rng.random(size) < 0.5, -1.0, 1.0)).float()
    theta = torch.zeros(size, 2, 3)
    theta[:, 0, 0], theta[:, 0, 1] = torch.cos(angle) * scale * flip, -torch.sin(angle) * scale
    theta[:, 1, 0], theta[:, 1, 1] = torch.sin(angle) * scale * flip, torch.cos(angle) * scale
    theta[:, :, 2] = shift
    x = batch.unsqueeze(1)
    grid = functional.affine_grid(theta, list(x.shape), align_corners=False)
    x = functional.grid_sample(x, grid, padding_mode="border", align_corners=False)
    gamma = torch.from_numpy(rng.uniform(0.7, 1.4, (size, 1, 1, 1))).float()
    x = x.clamp(0, 1) ** gamma
    mean = x.mean(dim=(2, 3), keepdim=True)
    return (x - mean) / x.std(dim=(2, 3), keepdim=True).clamp_min(1e-3)


def fit_thresholds(
    network: CxrNet, train_chests: npt.NDArray[np.uint8], valid_chests: npt.NDArray[np.uint8], *, budget: float
) -> dict[str, Any]:
    """OOD mean and precision from training chests; each check's limit at ``budget`` of validation chests."""
    train_features = _pooled(network, train_chests)  # (N, C)
    mean = train_features.mean(axis=0)
    covariance = np.cov(train_features, rowvar=False)
    shrunk = 0.9 * covariance + 0.1 * np.trace(covariance) / len(covariance) * np.eye(len(covariance))
    precision = np.linalg.inv(shrunk)
    ood = (torch.from_numpy(mean).float(), torch.from_numpy(precision).float())
    valid = gate_scores(network, *ood, valid_chests.astype(np.float32) / 255.0)
    thresholds = {
        "min_contrast": MIN_CONTRAST,
        "min_chest_probability": min(0.5, float(np.quantile(valid["probabilities"][:, 0], budget))),
        "min_symmetry": float(np.quantile(valid["symmetry"], budget)),
        "max_ood": float(np.quantile(valid["ood"], 1 - budget)),
    }
    refused = (
        (valid["contrast"] < thresholds["min_contrast"])
        | (valid["probabilities"][:, 0] < thresholds["min_chest_probability"])
        | (valid["symmetry"] < thresholds["min_symmetry"])
        | (valid["ood"] > thresholds["max_ood"])
    )
    return {
        "thresholds": thresholds,
        "ood": {key: value.numpy() for key, value in zip(OOD_KEYS, ood, strict=True)},
        "validation": {"chest_images": len(valid_chests), "refused": int(refused.sum())},
    }


def _pooled(network: CxrNet, pixels: npt.NDArray[np.uint8]) -> npt.NDArray[np.float64]:
    features = []
    with torch.inference_mode():
        for first in range(0, len(pixels), 256):
            x = torch.from_numpy(pixels[first : first + 256]).float() / 255.0
            mean = x.mean(dim=(1, 2), keepdim=True)
            x = ((x - mean) / x.std(dim=(1, 2), keepdim=True, unbiased=False).clamp_min(1e-3)).unsqueeze(1)
            features.append(network.features(x).mean(dim=(2, 3)).double().numpy())
    return np.concatenate(features)


def export_gate(
    network: CxrNet, summary: dict[str, Any], path: str | Path, *, model_id: str, version: str
) -> dict[str, Any]:
    """Write the gate's weights, OOD statistics and thresholds as one safetensors file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, nn.Parameter | torch.Tensor] = {
        k: v.detach().clone().contiguous() for k, v in network.state_dict().items()
    }
    tensors |= {key: torch.from_numpy(np.ascontiguousarray(value)).float() for key, value in summary["ood"].items()}
    metadata = {
        "model_id": model_id,
        "version": version,
        "architecture": "cxrnet",
        "classes": json.dumps(list(CLASSES)),
        "input_size": str(GATE_SIZE),
        "widths": json.dumps(list(summary["config"]["widths"])),
        "thresholds": json.dumps(summary["thresholds"]),
        "seed": str(summary["config"]["seed"]),
        "data": json.dumps(summary["data"]),
    }
    save_file(tensors, str(path), metadata=metadata)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return {
        "model_id": model_id,
        "weights": str(path),
        "sha256": digest,
        "size_bytes": path.stat().st_size,
        "thresholds": summary["thresholds"],
        "validation": summary["validation"],
        "data": summary["data"],
    }
