"""Augmentation suited to radiographs, on whole batches of tensors.

Small rotations, scaling and shifts (patient positioning), gamma and contrast changes
(exposure and detector processing), occasional blur by down- and up-sampling (lower
resolution sources) and sensor noise. No flips: the heart's side is anatomy, not noise.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F  # noqa: N812


def augment_batch(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """(B, 1, S, S) pixels in [0, 1] -> augmented pixels in [0, 1]."""
    b, _, s, _ = x.shape
    x = _random_affine(x, generator)
    gamma = torch.exp(_uniform(b, -0.35, 0.35, generator)).view(b, 1, 1, 1)
    x = x.clamp(1e-4, 1.0) ** gamma
    contrast = _uniform(b, 0.8, 1.2, generator).view(b, 1, 1, 1)
    brightness = _uniform(b, -0.08, 0.08, generator).view(b, 1, 1, 1)
    x = (x - 0.5) * contrast + 0.5 + brightness
    blurred = _uniform(b, 0.0, 1.0, generator) < 0.25
    if blurred.any():
        low = max(16, s // 3)
        small = F.interpolate(x[blurred], size=(low, low), mode="bilinear", antialias=True, align_corners=False)
        x[blurred] = F.interpolate(small, size=(s, s), mode="bilinear", align_corners=False)
    x = x + 0.02 * torch.randn(x.shape, generator=generator) * _uniform(b, 0.0, 1.0, generator).view(b, 1, 1, 1)
    return x.clamp(0.0, 1.0)


def standardize_batch(x: torch.Tensor) -> torch.Tensor:
    """Per-image zero mean, unit variance, as :func:`januscxr.preprocess.standardize`."""
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    std = x.std(dim=(1, 2, 3), keepdim=True, correction=0).clamp_min(1e-3)
    return (x - mean) / std


def _random_affine(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    b = x.shape[0]
    angle = _uniform(b, -7.0, 7.0, generator) * math.pi / 180.0
    scale = _uniform(b, 0.9, 1.12, generator)
    shift = _uniform(2 * b, -0.06, 0.06, generator).view(b, 2)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def _uniform(n: int, low: float, high: float, generator: torch.Generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=generator)
