"""The networks of the published experts: DenseNet-121 (CheXNet, torchxrayvision) and ResNet-50 (torchxrayvision).

Written here, not taken from torchvision (which does not install on the project's machines) or
MONAI (whose DenseNet nests each layer under ``.layers`` and names the head ``class_layers.out``):
module names follow the torchvision layout the published files use, so a converted state dict
loads with ``strict=True`` and the conversion is a renaming, never a reshaping.

Both return ``(B, K)`` logits from ``forward`` and the last feature map from ``feature_map``
(the pooled-linear head makes Grad-CAM on that map exact, as for CxrNet).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812 - the usual torch alias
from torch import nn


class DenseLayer(nn.Module):
    """BN-ReLU-1x1 conv (bottleneck) then BN-ReLU-3x3 conv; its output is concatenated to its input."""

    def __init__(self, in_channels: int, growth_rate: int, bn_size: int) -> None:
        super().__init__()
        self.norm1 = nn.BatchNorm2d(in_channels)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(in_channels, bn_size * growth_rate, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * growth_rate)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(bn_size * growth_rate, growth_rate, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(self.relu1(self.norm1(x)))
        out = self.conv2(self.relu2(self.norm2(out)))
        return torch.cat([x, out], dim=1)


class DenseBlock(nn.Sequential):
    def __init__(self, layers: int, in_channels: int, growth_rate: int, bn_size: int) -> None:
        super().__init__()
        for i in range(layers):
            self.add_module(f"denselayer{i + 1}", DenseLayer(in_channels + i * growth_rate, growth_rate, bn_size))


class Transition(nn.Sequential):
    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(in_channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.pool = nn.AvgPool2d(2, 2)


class DenseNet(nn.Module):
    """DenseNet-BC (Huang et al. 2017); the defaults are DenseNet-121.

    (B, C, S, S) -> (B, K) logits. ``features`` ends with the last batch norm (``norm5``); the
    head is ReLU, global average pooling and one linear layer, as in torchvision.
    """

    def __init__(
        self,
        num_classes: int,
        *,
        in_channels: int = 1,
        growth_rate: int = 32,
        block_config: tuple[int, ...] = (6, 12, 24, 16),
        init_features: int = 64,
        bn_size: int = 4,
    ) -> None:
        super().__init__()
        self.features = nn.Sequential()
        self.features.add_module("conv0", nn.Conv2d(in_channels, init_features, 7, 2, 3, bias=False))
        self.features.add_module("norm0", nn.BatchNorm2d(init_features))
        self.features.add_module("relu0", nn.ReLU(inplace=True))
        self.features.add_module("pool0", nn.MaxPool2d(3, 2, 1))
        channels = init_features
        for i, layers in enumerate(block_config):
            self.features.add_module(f"denseblock{i + 1}", DenseBlock(layers, channels, growth_rate, bn_size))
            channels += layers * growth_rate
            if i != len(block_config) - 1:
                self.features.add_module(f"transition{i + 1}", Transition(channels, channels // 2))
                channels //= 2
        self.features.add_module("norm5", nn.BatchNorm2d(channels))
        self.classifier = nn.Linear(channels, num_classes)

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.features(x))  # (B, 1024, S/32, S/32)

    def head(self, features: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.classifier(features.mean(dim=(2, 3)))  # (B, K)
        return logits

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.feature_map(x))


class Bottleneck(nn.Module):
    """1x1, 3x3 (strided: ResNet v1.5, as torchvision) and 1x1 convolutions with a residual shortcut."""

    expansion = 4

    def __init__(self, in_channels: int, width: int, stride: int) -> None:
        super().__init__()
        out_channels = width * self.expansion
        self.conv1 = nn.Conv2d(in_channels, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False), nn.BatchNorm2d(out_channels)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return torch.relu(out + shortcut)


class ResNet(nn.Module):
    """ResNet with bottleneck blocks (He et al. 2016); the defaults are ResNet-50. (B, C, S, S) -> (B, K)."""

    def __init__(self, num_classes: int, *, in_channels: int = 1, layers: tuple[int, ...] = (3, 4, 6, 3)) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        channels, stages = 64, []
        for i, blocks in enumerate(layers):
            width = 64 * 2**i
            stage = [Bottleneck(channels, width, 1 if i == 0 else 2)]
            channels = width * Bottleneck.expansion
            stage += [Bottleneck(channels, width, 1) for _ in range(blocks - 1)]
            stages.append(nn.Sequential(*stage))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.fc = nn.Linear(channels, num_classes)

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        features: torch.Tensor = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return features  # (B, 2048, S/32, S/32)

    def head(self, features: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.fc(features.mean(dim=(2, 3)))  # (B, K)
        return logits

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.feature_map(x))


def build_network(architecture: str, num_classes: int, in_channels: int) -> DenseNet | ResNet:
    """``densenet121`` or ``resnet50`` by name, as the converted file's metadata names it."""
    if architecture == "densenet121":
        return DenseNet(num_classes, in_channels=in_channels)
    if architecture == "resnet50":
        return ResNet(num_classes, in_channels=in_channels)
    raise ValueError(f"unknown architecture {architecture!r}; expected densenet121 or resnet50")
