"""The chest-radiograph gate: is this image a frontal chest radiograph at all?

Four checks on the image reduced to 64 px, each with a threshold fitted on validation
chest radiographs (never on the negatives measured in docs/benchmarks.md):

1. contrast: a near-constant image is blank;
2. a small :class:`~januscxr.models.cxrnet.CxrNet` (chest versus five made-up kinds of
   non-chest image) must give the chest class enough probability;
3. left-right mirror symmetry (best over small shifts): frontal chests are roughly
   symmetric, laterals and rotated images are not;
4. a one-class check for what the CNN never saw: the Mahalanobis distance of its pooled
   features to the training chest radiographs.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch
from safetensors.torch import load_file

from januscxr.errors import ModelError
from januscxr.models.base import GateDecision, GateSpec
from januscxr.models.cxrnet import CxrNet
from januscxr.models.weights_file import weights_metadata
from januscxr.preprocess import resize_square, standardize
from januscxr.types import Image

OOD_KEYS = ("ood.mean", "ood.precision")
MAX_SHIFT_PX = 6
_LOOKS_LIKE = {
    "blank": "looks like a blank or near-uniform image",
    "noise": "looks like random noise",
    "document": "looks like a document or a screenshot of text",
    "graphics": "looks like a drawing or a photograph",
    "scrambled": "looks like a tiled or scrambled image",
}


def mirror_symmetry(x: npt.NDArray[np.float32], max_shift: int = MAX_SHIFT_PX) -> npt.NDArray[np.float32]:
    """(B, S, S) -> (B,): best correlation of each image with its mirror image over small shifts.

    A shift moves the axis of symmetry, so a patient off the image's centre still scores high.
    """
    flipped = x[:, :, ::-1]
    size = x.shape[2]
    best = np.full(x.shape[0], -1.0, np.float32)
    for shift in range(-max_shift, max_shift + 1):
        a = x[:, :, max(shift, 0) : size + min(shift, 0)].reshape(len(x), -1)
        b = flipped[:, :, max(-shift, 0) : size + min(-shift, 0)].reshape(len(x), -1)
        a = a - a.mean(axis=1, keepdims=True)
        b = b - b.mean(axis=1, keepdims=True)
        denominator = np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1)) + 1e-6
        best = np.maximum(best, (a * b).sum(axis=1) / denominator)
    return best


def gate_scores(
    network: CxrNet, ood_mean: torch.Tensor, ood_precision: torch.Tensor, pixels: npt.NDArray[np.float32]
) -> dict[str, npt.NDArray[np.float32]]:
    """Scores of (B, S, S) images in [0, 1] at the gate's size: contrast, symmetry, class probabilities, OOD."""
    standardized = np.stack([standardize(p) for p in pixels])  # (B, S, S)
    x = torch.from_numpy(standardized).unsqueeze(1)  # (B, 1, S, S)
    with torch.inference_mode():
        pooled = network.features(x).mean(dim=(2, 3))  # (B, C)
        probabilities = torch.softmax(network.head(pooled), dim=1)  # (B, K)
        centred = pooled - ood_mean
        ood = torch.einsum("bc,cd,bd->b", centred, ood_precision, centred) / pooled.shape[1]
    return {
        "contrast": pixels.reshape(len(pixels), -1).std(axis=1).astype(np.float32),
        "symmetry": mirror_symmetry(standardized),
        "probabilities": probabilities.numpy(),
        "ood": ood.numpy(),
    }


class CxrGate:
    """A :class:`~januscxr.models.base.Gate` over a trained gate CNN and its chest feature statistics."""

    def __init__(self, spec: GateSpec, weights: Path | None) -> None:
        if weights is None:
            raise ModelError(f"{spec.model_id}: no weights file registered; expected a .safetensors file")
        self._spec = spec
        metadata = weights_metadata(weights)
        try:
            self.classes = tuple(json.loads(metadata["classes"]))
            self.input_size = int(metadata["input_size"])
            self.thresholds = {k: float(v) for k, v in json.loads(metadata["thresholds"]).items()}
            widths = tuple(json.loads(metadata["widths"]))
        except (KeyError, ValueError) as error:
            raise ModelError(
                f"{weights}: gate metadata lacks {error}; expected a file written by `januscxr train gate`"
            ) from error
        tensors = load_file(str(weights))
        self.ood_mean, self.ood_precision = (tensors.pop(key) for key in OOD_KEYS)
        self.network = CxrNet(len(self.classes), widths)
        self.network.load_state_dict(tensors, strict=True)
        self.network.eval()

    @property
    def spec(self) -> GateSpec:
        return self._spec

    def check(self, images: Sequence[Image]) -> list[GateDecision]:
        """One decision per image, in order; a refusal carries the first failed check's reason."""
        if not images:
            return []
        pixels = np.stack([resize_square(image.pixels, self.input_size) for image in images])
        scores = gate_scores(self.network, self.ood_mean, self.ood_precision, pixels)
        return [self._decide({k: v[i] for k, v in scores.items()}) for i in range(len(images))]

    def _decide(self, scores: dict[str, npt.NDArray[np.float32]]) -> GateDecision:
        limits = self.thresholds
        probabilities = scores["probabilities"]
        chest = float(probabilities[0])
        values = {"contrast": float(scores["contrast"]), "chest_probability": chest}
        values |= {"symmetry": float(scores["symmetry"]), "ood": float(scores["ood"])}
        reason = None
        if values["contrast"] < limits["min_contrast"]:
            reason = "looks like a blank image (no contrast)"
        elif chest < limits["min_chest_probability"]:
            other = int(np.argmax(probabilities[1:])) + 1
            looks = _LOOKS_LIKE.get(self.classes[other], "")
            reason = looks if looks and probabilities[other] >= 0.5 else "does not look like a chest radiograph"
            reason += f" (chest probability {chest:.2f} < {limits['min_chest_probability']:.2f})"
        elif values["symmetry"] < limits["min_symmetry"]:
            reason = (
                "not left-right symmetric as a frontal chest view is; a lateral view, a rotated image "
                f"or another body part? (symmetry {values['symmetry']:.2f} < {limits['min_symmetry']:.2f})"
            )
        elif values["ood"] > limits["max_ood"]:
            reason = (
                "unlike the chest radiographs the gate was built on; another modality or body part? "
                f"(distance {values['ood']:.1f} > {limits['max_ood']:.1f})"
            )
        return GateDecision(accepted=reason is None, reason=reason, scores=values)
