"""The CxrNet classifier backend: verified safetensors weights, calibration, Grad-CAM."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

from januscxr.errors import ModelError
from januscxr.labels import Finding
from januscxr.models.base import ClassifierSpec
from januscxr.models.calibration import MIN_URGENT_POSITIVES
from januscxr.models.cxrnet import CxrNet
from januscxr.models.heatmap import gradcam, heatmap_laterality
from januscxr.models.weights_file import weights_metadata
from januscxr.preprocess import to_model_input
from januscxr.types import FindingResult, Image, Prediction


class CxrNetClassifier:
    """A :class:`~januscxr.models.base.Classifier` over a trained :class:`CxrNet`.

    The safetensors metadata carries the findings, input size, widths, per-finding
    Platt temperatures and biases and operating thresholds fitted on validation, and which findings are
    offered: a finding no better than chance on validation is computed but never reported. The
    registry entry's ``labels``, when not empty, narrow the offered findings further: a finding
    outside them is computed but never scored, drafted or shown.
    Files written by ``januscxr train operating-points`` also carry each finding's urgent
    (specific) threshold and the positives it was chosen on; a finding without one, or with one
    chosen on fewer than ``MIN_URGENT_POSITIVES`` positives, is never urgent.
    """

    def __init__(self, spec: ClassifierSpec, weights: Path | None) -> None:
        if weights is None:
            raise ModelError(f"{spec.model_id}: no weights file registered; expected a .safetensors file")
        self._spec = spec
        metadata = weights_metadata(weights)
        try:
            self.findings = tuple(Finding.coerce(f) for f in json.loads(metadata["findings"]))
            self.input_size = int(metadata["input_size"])
            temperatures = json.loads(metadata["temperatures"])
            thresholds = json.loads(metadata["thresholds"])
            widths = tuple(json.loads(metadata["widths"]))
            biases = json.loads(metadata.get("biases", "{}"))
            offered = set(json.loads(metadata.get("offered", metadata["findings"])))
            urgent = json.loads(metadata.get("urgent_thresholds", "{}"))
            urgent_positives = json.loads(metadata.get("urgent_positives", "{}"))
        except (KeyError, ValueError) as error:
            raise ModelError(
                f"{weights}: weights metadata lacks {error}; expected a file written by januscxr train"
            ) from error
        self.temperatures = torch.tensor([temperatures[f.value] for f in self.findings])
        self.biases = torch.tensor([float(biases.get(f.value, 0.0)) for f in self.findings])
        self.thresholds = [float(thresholds[f.value]) for f in self.findings]
        self.urgent_thresholds: list[float | None] = [
            float(urgent[f.value])
            if f.value in urgent and int(urgent_positives.get(f.value, 0)) >= MIN_URGENT_POSITIVES
            else None
            for f in self.findings
        ]
        # The registry's labels, when given, are the findings offered (cross-validated, issue 12):
        # the file's own "offered" list was chosen on the split that also chose the epoch.
        self.offered = [
            k for k, f in enumerate(self.findings) if f.value in offered and (not spec.labels or f in spec.labels)
        ]
        self.network = CxrNet(len(self.findings), widths)
        self.network.load_state_dict(load_file(str(weights)), strict=True)
        self.network.eval()

    @property
    def spec(self) -> ClassifierSpec:
        return self._spec

    def predict(self, images: Sequence[Image], *, heatmaps: bool = True) -> list[Prediction]:
        """Calibrated probabilities for every finding; Grad-CAM for flagged ones."""
        if not images:
            return []
        batch = np.stack([to_model_input(image.pixels, self.input_size) for image in images])
        x = torch.from_numpy(batch).unsqueeze(1)  # (B, 1, S, S)
        with torch.inference_mode():
            logits = self.network(x)  # (B, K)
        probabilities = torch.sigmoid(logits / self.temperatures + self.biases).numpy()
        return [self._prediction(image, x[i : i + 1], probabilities[i], heatmaps) for i, image in enumerate(images)]

    def _prediction(self, image: Image, x: torch.Tensor, probabilities: np.ndarray, heatmaps: bool) -> Prediction:
        flagged = [k for k in self.offered if probabilities[k] >= self.thresholds[k]]
        maps = dict(zip(flagged, self._gradcams(x, flagged), strict=True)) if heatmaps and flagged else {}
        results = {}
        for k in self.offered:
            finding = self.findings[k]
            heatmap = maps.get(k)
            laterality = None
            if heatmap is not None and finding.is_lateralizable:
                laterality = heatmap_laterality(heatmap, column_toward_patient_left=image.column_toward_patient_left)
            results[finding] = FindingResult(
                finding, float(probabilities[k]), self.thresholds[k], heatmap, laterality, self.urgent_thresholds[k]
            )
        return Prediction(results, self._spec.model_id, self._spec.version)

    def _gradcams(self, x: torch.Tensor, indices: list[int]) -> list[np.ndarray]:
        """Grad-CAM on the third stage's output: twice the resolution of the last stage."""
        net = self.network
        with torch.no_grad():
            early = net.stages[:3](net.stem(x))  # (1, C3, S/16, S/16)
        with torch.enable_grad():
            early.requires_grad_(True)
            logits = net.head(net.stages[3](early).mean(dim=(2, 3)))
            return gradcam(early, logits, indices)
