"""CxrNet: a small residual CNN for grayscale chest radiographs, written for CPU speed.

Four stages of two basic residual blocks, global average pooling and one linear layer.
The pooled-linear head makes Grad-CAM exact in closed form (it equals CAM), so heatmaps
cost one matrix product instead of a backward pass.
"""

from __future__ import annotations

import torch
from torch import nn


class BasicBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


class CxrNet(nn.Module):
    """(B, 1, S, S) standardised radiographs -> (B, K) logits and (B, C, S/32, S/32) features."""

    def __init__(self, num_findings: int, widths: tuple[int, ...] = (32, 64, 128, 256), dropout: float = 0.2) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(1, widths[0], 5, 2, 2, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2, 1),
        )
        stages: list[nn.Module] = []
        in_channels = widths[0]
        for index, width in enumerate(widths):
            stride = 1 if index == 0 else 2
            stages.append(nn.Sequential(BasicBlock(in_channels, width, stride), BasicBlock(width, width, 1)))
            in_channels = width
        self.stages = nn.Sequential(*stages)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(in_channels, num_findings)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def features(self, x: torch.Tensor) -> torch.Tensor:
        features: torch.Tensor = self.stages(self.stem(x))  # (B, C, S/32, S/32)
        return features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = self.features(x).mean(dim=(2, 3))  # (B, C)
        logits: torch.Tensor = self.head(self.dropout(pooled))  # (B, K)
        return logits

    def logits_and_cams(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits (B, K) and class activation maps (B, K, h, w) from one forward pass.

        For a head of global average pooling then linear, the Grad-CAM weight of channel
        c for finding k is head.weight[k, c] / (h w), so Grad-CAM is CAM up to scale.
        """
        feats = self.features(x)  # (B, C, h, w)
        logits = self.head(feats.mean(dim=(2, 3)))  # (B, K)
        cams = torch.einsum("kc,bchw->bkhw", self.head.weight, feats)  # (B, K, h, w)
        return logits, torch.relu(cams)
