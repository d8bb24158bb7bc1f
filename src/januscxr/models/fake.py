"""Test doubles: a classifier with fixed probabilities and a gate that accepts everything. Never a default."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from januscxr.labels import Finding
from januscxr.models.base import ClassifierSpec, GateDecision, GateSpec
from januscxr.models.heatmap import heatmap_laterality
from januscxr.types import FindingResult, Image, Prediction

FAKE_PROBABILITIES: dict[Finding, float] = {
    Finding.PNEUMOTHORAX: 0.92,
    Finding.PLEURAL_EFFUSION: 0.35,
    Finding.CARDIOMEGALY: 0.05,
    Finding.PNEUMONIA: 0.10,
}
FAKE_THRESHOLD = 0.3
FAKE_URGENT_THRESHOLD = 0.9  # the specific point: pneumothorax (0.92) is urgent, so critical


class FakeClassifier:
    """Returns the same probabilities for every image; heatmaps light the image's left half."""

    def __init__(self, spec: ClassifierSpec, probabilities: Mapping[Finding, float] | None = None) -> None:
        self._spec = spec
        self.probabilities = dict(probabilities or FAKE_PROBABILITIES)
        self.calls = 0

    @property
    def spec(self) -> ClassifierSpec:
        return self._spec

    def predict(self, images: Sequence[Image], *, heatmaps: bool = True) -> list[Prediction]:
        self.calls += 1
        heatmap = np.zeros((8, 8), dtype=np.float32)
        heatmap[2:6, 1:3] = 1.0
        predictions = []
        for image in images:
            results = {}
            for finding, probability in self.probabilities.items():
                flagged = probability >= FAKE_THRESHOLD
                side = heatmap_laterality(heatmap, column_toward_patient_left=image.column_toward_patient_left)
                results[finding] = FindingResult(
                    finding,
                    probability,
                    FAKE_THRESHOLD,
                    heatmap.copy() if flagged and heatmaps else None,
                    side if flagged and finding.is_lateralizable else None,
                    FAKE_URGENT_THRESHOLD,
                )
            predictions.append(Prediction(results, self._spec.model_id, self._spec.version))
        return predictions


def build_fake_classifier(spec: ClassifierSpec, weights: Path | None) -> FakeClassifier:
    return FakeClassifier(spec)


class FakeGate:
    """Accepts every image: for tests about something other than the gate. Never a default."""

    def __init__(self, spec: GateSpec) -> None:
        self._spec = spec
        self.calls = 0

    @property
    def spec(self) -> GateSpec:
        return self._spec

    def check(self, images: Sequence[Image]) -> list[GateDecision]:
        self.calls += 1
        return [GateDecision(accepted=True) for _ in images]


def build_fake_gate(spec: GateSpec, weights: Path | None) -> FakeGate:
    return FakeGate(spec)
