"""A tiny random CxrNet exported the way `januscxr train classifier` exports one."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch

from januscxr.labels import Finding
from januscxr.models.base import ClassifierSpec
from januscxr.models.cxrnet import CxrNet
from januscxr.models.cxrnet_classifier import CxrNetClassifier
from januscxr.training.export import export_classifier
from januscxr.training.trainer import TrainConfig, TrainedModel

TINY_FINDINGS = (Finding.PNEUMONIA, Finding.PLEURAL_EFFUSION, Finding.CARDIOMEGALY)
TINY_SIZE = 64


def write_tiny_classifier(path: Path, seed: int = 0) -> ClassifierSpec:
    torch.manual_seed(seed)
    config = TrainConfig(manifest="-", out_dir=str(path.parent), input_size=TINY_SIZE, widths=[4, 8, 8, 16])
    model = CxrNet(len(TINY_FINDINGS), (4, 8, 8, 16))
    rng = np.random.default_rng(seed)
    labels = (rng.random((60, len(TINY_FINDINGS))) < 0.4).astype(np.float32)
    logits = (3 * (labels - 0.5) + rng.normal(0, 1.5, labels.shape)).astype(np.float32)
    trained = TrainedModel(model.eval(), config, TINY_FINDINGS, logits, labels, [])
    export_classifier(trained, path, model_id="tiny-test", version="0")
    return ClassifierSpec(
        model_id="tiny-test",
        version="0",
        labels=TINY_FINDINGS,
        input_size=TINY_SIZE,
        factory=CxrNetClassifier,
        weights=path.name,
        sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
    )
