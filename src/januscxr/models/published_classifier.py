"""The backend of the published experts (CheXNet, torchxrayvision): a converted file, its own preprocessing.

Per finding, the outputs that answer it (:func:`januscxr.models.published.sources_by_finding`)
give one score ``r = max_i (z_i - logit(t_i))``: each output's logit measured from its own
published threshold, so the finding is over its threshold when any of its outputs is. The
reported probability is ``sigmoid(r / T + b)`` with ``T = 1`` and ``b = logit(t)`` of the first
output as published (for a single output: exactly the publisher's sigmoid), until
``januscxr models calibrate`` fits local ones. Published models carry no specific (urgent)
operating point: none of their findings raises the worklist until a local calibration chooses one.
"""

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
from januscxr.models.densenet import build_network
from januscxr.models.heatmap import gradcam, heatmap_laterality
from januscxr.models.published import Preprocessing
from januscxr.models.published_input import CENTRE_CROP, model_input
from januscxr.models.weights_file import weights_metadata
from januscxr.types import FindingResult, Image, Prediction

_EPS = 1e-7


class PublishedClassifier:
    """A :class:`~januscxr.models.base.Classifier` over a file written by ``januscxr models convert``."""

    def __init__(self, spec: ClassifierSpec, weights: Path | None) -> None:
        if weights is None:
            raise ModelError(f"{spec.model_id}: no converted weights; {spec.obtain}")
        self._spec = spec
        metadata = weights_metadata(weights)
        if metadata.get("format") != "januscxr-expert":
            raise ModelError(f"{weights}: not a converted expert; expected a file written by `januscxr models convert`")
        try:
            self.findings = tuple(Finding(f) for f in json.loads(metadata["findings"]))
            sources = json.loads(metadata["sources"])
            self.sources = [list(sources[f.value]) for f in self.findings]
            self.output_thresholds = torch.tensor(json.loads(metadata["output_thresholds"]), dtype=torch.float64)
            temperatures, biases = json.loads(metadata["temperatures"]), json.loads(metadata["biases"])
            thresholds = json.loads(metadata["thresholds"])
            self.preprocessing = Preprocessing(metadata["preprocessing"])
            self.input_size = int(metadata["input_size"])
            outputs, in_channels = len(json.loads(metadata["outputs"])), int(metadata["in_channels"])
            self.network = build_network(metadata["architecture"], outputs, in_channels)
        except (KeyError, ValueError) as error:
            raise ModelError(f"{weights}: converted metadata lacks {error}; convert the published file again") from None
        self.temperatures = np.array([temperatures[f.value] for f in self.findings], dtype=np.float64)
        self.biases = np.array([biases[f.value] for f in self.findings], dtype=np.float64)
        self.thresholds = [float(thresholds[f.value]) for f in self.findings]
        self.network.load_state_dict(load_file(str(weights)), strict=True)
        self.network.eval()

    @property
    def spec(self) -> ClassifierSpec:
        return self._spec

    def scores(self, logits: torch.Tensor) -> torch.Tensor:
        """(B, outputs) logits -> (B, findings) scores, 0 where a finding meets its published threshold."""
        shift = torch.logit(self.output_thresholds.clamp(_EPS, 1 - _EPS)).to(logits.dtype)
        margins = logits - shift  # (B, outputs)
        return torch.stack([margins[:, indices].amax(dim=1) for indices in self.sources], dim=1)

    def predict(self, images: Sequence[Image], *, heatmaps: bool = True) -> list[Prediction]:
        """Probabilities for every covered finding; Grad-CAM (on the centre crop) for flagged ones."""
        if not images:
            return []
        crops = [torch.from_numpy(model_input(image.pixels, self.preprocessing, self.input_size)) for image in images]
        with torch.inference_mode():
            logits = self.network(torch.cat(crops))  # (sum N, outputs)
        predictions, start = [], 0
        for image, x in zip(images, crops, strict=True):
            mean = torch.sigmoid(logits[start : start + len(x)].double()).mean(dim=0, keepdim=True)  # crops averaged
            start += len(x)
            r = self.scores(torch.logit(mean.clamp(_EPS, 1 - _EPS)))[0].numpy()
            probabilities = 1.0 / (1.0 + np.exp(-(r / self.temperatures + self.biases)))
            centre = x[CENTRE_CROP : CENTRE_CROP + 1] if len(x) > 1 else x
            predictions.append(self._prediction(image, centre, probabilities, heatmaps))
        return predictions

    def _prediction(self, image: Image, x: torch.Tensor, probabilities: np.ndarray, heatmaps: bool) -> Prediction:
        flagged = [k for k, p in enumerate(probabilities) if p >= self.thresholds[k]]
        maps = dict(zip(flagged, self._gradcams(x, flagged), strict=True)) if heatmaps and flagged else {}
        results = {}
        for k, finding in enumerate(self.findings):
            heatmap = maps.get(k)
            laterality = None
            if heatmap is not None and finding.is_lateralizable:
                laterality = heatmap_laterality(heatmap, column_toward_patient_left=image.column_toward_patient_left)
            results[finding] = FindingResult(finding, float(probabilities[k]), self.thresholds[k], heatmap, laterality)
        return Prediction(results, self._spec.model_id, self._spec.version)

    def _gradcams(self, x: torch.Tensor, indices: list[int]) -> list[np.ndarray]:
        """Grad-CAM on the last feature map; the head is pooled-linear, so no backward pass through the network."""
        with torch.no_grad():
            features = self.network.feature_map(x)  # (1, C, S/32, S/32)
        with torch.enable_grad():
            features.requires_grad_(True)
            return gradcam(features, self.scores(self.network.head(features)), indices)
