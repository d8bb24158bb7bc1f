"""Several classifiers as one, finding by finding, and calibrations fitted on a hospital's own cases.

``load_experts("a,b")`` loads each registered classifier, applies its local calibration when
``januscxr models calibrate`` wrote one, and combines them: each finding is answered by the experts
that cover it; where several do, their probabilities are averaged and so are their thresholds (a
calibration of the combination itself, ``januscxr models calibrate a,b``, replaces both with
ones fitted on local labelled cases). An averaged finding has no specific operating point (it
was never chosen on held-out cases) until such a calibration fits one. Every result says which
experts answered it (:attr:`ExpertFindingResult.experts`).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from januscxr.errors import ModelError, UnknownModelError
from januscxr.labels import Finding
from januscxr.models.base import Classifier, ClassifierSpec
from januscxr.models.expert_store import calibration_path
from januscxr.models.registry import load_classifier
from januscxr.types import FindingResult, Image, Prediction


@dataclass(frozen=True)
class ExpertFindingResult(FindingResult):
    """A finding's result with the experts that answered it (model ids, in the order given)."""

    experts: tuple[str, ...] = ()


def expert_names(name: str) -> list[str]:
    """``"a, b"`` -> ``["a", "b"]``; an empty or repeated name is an error."""
    names = [part.strip() for part in name.split(",")]
    if any(not part for part in names) or len(set(names)) != len(names):
        raise UnknownModelError(f"classifier {name!r}: expected registered names separated by commas, each once")
    return names


class CombinedClassifier:
    """Experts read together; per finding, the mean over the experts that cover it."""

    def __init__(self, experts: Sequence[Classifier]) -> None:
        self.experts = list(experts)
        ids = [e.spec.model_id for e in self.experts]
        labels = {f for e in self.experts for f in e.spec.labels}
        self._spec = ClassifierSpec(
            model_id=",".join(ids),
            version=",".join(f"{e.spec.model_id}@{e.spec.version}" for e in self.experts),
            labels=tuple(f for f in Finding if f in labels),
            input_size=max(e.spec.input_size for e in self.experts),
            factory=_not_from_registry,
            description="Experts combined finding by finding: " + ", ".join(ids),
        )

    @property
    def spec(self) -> ClassifierSpec:
        return self._spec

    def coverage(self) -> dict[Finding, list[str]]:
        """Which experts cover each finding."""
        return {f: [e.spec.model_id for e in self.experts if f in e.spec.labels] for f in self._spec.labels}

    def predict(self, images: Sequence[Image], *, heatmaps: bool = True) -> list[Prediction]:
        per_expert = [e.predict(images, heatmaps=heatmaps) for e in self.experts]
        return [
            Prediction(self._combine([p[i] for p in per_expert]), self._spec.model_id, self._spec.version)
            for i in range(len(images))
        ]

    def _combine(self, predictions: list[Prediction]) -> dict[Finding, FindingResult]:
        combined: dict[Finding, FindingResult] = {}
        for finding in self._spec.labels:
            answers = [(p.model_id, p.findings[finding]) for p in predictions if finding in p.findings]
            if not answers:  # an expert may leave out a finding it covers (CxrNet: no better than chance)
                continue
            ids = tuple(model_id for model_id, _ in answers)
            results = [r for _, r in answers]
            if len(results) == 1:
                (only,) = results
                combined[finding] = _with_experts(only, ids)
                continue
            shown = next((r for r in results if r.heatmap is not None), None)
            combined[finding] = ExpertFindingResult(
                finding,
                float(np.mean([r.probability for r in results])),
                float(np.mean([r.threshold for r in results])),
                shown.heatmap if shown else None,
                shown.laterality if shown else None,
                None,
                experts=ids,
            )
        return combined


def _with_experts(result: FindingResult, ids: tuple[str, ...]) -> ExpertFindingResult:
    fields = {f.name: getattr(result, f.name) for f in dataclasses.fields(FindingResult)}
    return ExpertFindingResult(**fields, experts=ids)


def _not_from_registry(spec: ClassifierSpec, weights: Path | None) -> Classifier:
    raise ModelError(f"{spec.model_id}: a combination is loaded with load_experts, not from the registry")


@dataclass(frozen=True)
class FindingCalibration:
    """A finding's local Platt scaling of the expert's probability, and its two operating points."""

    temperature: float
    bias: float
    threshold: float
    urgent_threshold: float | None


def read_calibration(path: Path) -> tuple[str, dict[Finding, FindingCalibration]]:
    """A calibration file written by ``januscxr models calibrate``: its tag and per-finding values."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        findings = {
            Finding(name): FindingCalibration(
                float(v["temperature"]),
                float(v["bias"]),
                float(v["threshold"]),
                None if v.get("urgent_threshold") is None else float(v["urgent_threshold"]),
            )
            for name, v in document["findings"].items()
        }
        tag = f"local:{document['manifest_sha256'][:12]}"
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ModelError(
            f"{path}: unreadable local calibration ({error}); run `januscxr models calibrate` again"
        ) from None
    return tag, findings


class LocallyCalibrated:
    """A classifier whose probabilities and thresholds were refitted on a hospital's labelled cases.

    ``p' = sigmoid(logit(p) / T + b)``: Platt scaling of the expert's own probability, which is
    the same family as refitting the expert's logits (both are affine on the logit scale).
    Findings the calibration does not name keep the expert's values.
    """

    def __init__(self, inner: Classifier, findings: Mapping[Finding, FindingCalibration], tag: str) -> None:
        self.inner = inner
        self.findings = dict(findings)
        self._spec = dataclasses.replace(inner.spec, version=f"{inner.spec.version}+{tag}")

    @property
    def spec(self) -> ClassifierSpec:
        return self._spec

    def predict(self, images: Sequence[Image], *, heatmaps: bool = True) -> list[Prediction]:
        return [
            Prediction({f: self._recalibrate(r) for f, r in p.findings.items()}, p.model_id, self._spec.version)
            for p in self.inner.predict(images, heatmaps=heatmaps)
        ]

    def _recalibrate(self, result: FindingResult) -> FindingResult:
        local = self.findings.get(result.finding)
        if local is None:
            return result
        p = min(max(result.probability, 1e-7), 1 - 1e-7)
        probability = 1.0 / (1.0 + math.exp(-(math.log(p / (1 - p)) / local.temperature + local.bias)))
        return dataclasses.replace(
            result, probability=probability, threshold=local.threshold, urgent_threshold=local.urgent_threshold
        )


def load_experts(name: str, *, models_dir: Path | None = None, calibrated: bool = True) -> Classifier:
    """A registered classifier or a comma-separated combination, with local calibrations applied.

    ``calibrated=False`` leaves out the local calibration of ``name`` itself (what
    ``januscxr models calibrate`` refits), keeping those of the experts inside a combination.
    """
    names = expert_names(name)
    experts = [_with_calibration(load_classifier(n, models_dir=models_dir), n, models_dir) for n in names]
    if len(experts) == 1:
        (single,) = experts
        if not calibrated:
            return single.inner if isinstance(single, LocallyCalibrated) else single
        return single
    combined: Classifier = CombinedClassifier(experts)
    return _with_calibration(combined, ",".join(names), models_dir) if calibrated else combined


def _with_calibration(classifier: Classifier, name: str, models_dir: Path | None) -> Classifier:
    path = calibration_path(name, models_dir)
    if not path.is_file():
        return classifier
    tag, findings = read_calibration(path)
    return LocallyCalibrated(classifier, findings, tag)


def calibration_summary(document: Mapping[str, Any]) -> str:
    """One line per finding of a calibration document: AUC with its CI and the chosen thresholds."""
    lines = []
    for name, v in document["findings"].items():
        low, high = v["auc_ci95"]
        urgent = "none (too few positives)" if v["urgent_threshold"] is None else f"{v['urgent_threshold']:.4f}"
        lines.append(
            f"{name}: AUC {v['auc']:.3f} ({low:.3f}-{high:.3f}), threshold {v['threshold']:.4f}, urgent {urgent}, "
            f"{v['positives']} positives / {v['negatives']} negatives"
        )
    return "\n".join(lines)
