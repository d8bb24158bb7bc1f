"""Heatmaps from class activations, and the side of the chest they point to."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from januscxr.types import FloatArray, Laterality

if TYPE_CHECKING:  # torch loads with the model, not with the registry
    import torch

# A finding is called right- or left-sided when this share of its heatmap lies on one side.
LATERALITY_SHARE = 0.7


def gradcam(features: torch.Tensor, logits: torch.Tensor, indices: list[int]) -> list[FloatArray]:
    """Grad-CAM maps of ``logits[0, k]`` for k in ``indices`` over ``features`` (1, C, h, w).

    ``features`` must require grad and ``logits`` be computed from it. Each map is
    ReLU(sum_c alpha_c A_c) with alpha_c the spatial mean gradient, scaled to max 1.
    """
    import torch

    maps: list[FloatArray] = []
    for position, k in enumerate(indices):
        (grad,) = torch.autograd.grad(logits[0, k], features, retain_graph=position < len(indices) - 1)
        weights = grad.mean(dim=(2, 3), keepdim=True)  # (1, C, 1, 1)
        cam = torch.relu((weights * features).sum(dim=1))[0].detach()  # (h, w)
        peak = float(cam.max())
        maps.append((cam / peak if peak > 0 else cam).numpy().astype(np.float32))
    return maps


def heatmap_laterality(heatmap: FloatArray, *, column_toward_patient_left: bool = True) -> Laterality | None:
    """Right or left when one half of the image holds most of the heat; else None.

    On a standard frontal display the patient's right is on the image's left.
    """
    total = float(heatmap.sum())
    if total <= 0:
        return None
    half = heatmap.shape[1] / 2.0
    columns = np.arange(heatmap.shape[1]) + 0.5
    image_left = float(heatmap[:, columns < half].sum()) / total
    if image_left >= LATERALITY_SHARE:
        return Laterality.RIGHT if column_toward_patient_left else Laterality.LEFT
    if 1.0 - image_left >= LATERALITY_SHARE:
        return Laterality.LEFT if column_toward_patient_left else Laterality.RIGHT
    return None
