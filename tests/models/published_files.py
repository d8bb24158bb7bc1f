"""Random-weight files in each published format, with an independent reference network (MONAI) for each.

- torchxrayvision DenseNet-121: ``torch.save(model)`` of a ``torchxrayvision.models.DenseNet`` (its own
  ``_DenseBlock``/``_DenseLayer``/``_Transition`` classes, torch layers inside), legacy (pre-zip) container.
- CheXNet ``model.pth.tar``: a training checkpoint dict, ``state_dict`` under DataParallel's ``module.``
  and CheXNet's ``densenet121.`` wrapper, torchvision < 0.3 names (``norm.1``), no ``num_batches_tracked``
  (torch < 0.4), ``classifier.0.`` (Linear then Sigmoid), legacy container.
- torchxrayvision ResNet-50: ``torch.save(model.state_dict())`` of torchvision's ResNet-50 with a
  one-channel ``conv1``, zip container.

The classes pickled under torchxrayvision's names are structure only (no forward); outputs are
checked against MONAI's DenseNet-121 and ResNet-50 carrying the same weights.
"""

from __future__ import annotations

import re
import sys
import types
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from monai.networks.nets import DenseNet121, resnet50
from torch import nn


def _settle_batch_norms(model: nn.Module, size: int, channels: int, scale: float) -> nn.Module:
    """Running statistics from one pass of random images, so that random logits stay moderate."""
    torch.manual_seed(0)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None
    model.train()
    with torch.no_grad():
        model(torch.randn(2, channels, size, size) * scale)
    return model.eval()


def reference_densenet(outputs: int, channels: int, seed: int, scale: float) -> nn.Module:
    torch.manual_seed(seed)
    model = DenseNet121(spatial_dims=2, in_channels=channels, out_channels=outputs)
    return _settle_batch_norms(model, 96, channels, scale)


def reference_resnet(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    model = resnet50(
        spatial_dims=2, n_input_channels=1, num_classes=18, conv1_t_stride=2, bias_downsample=False, shortcut_type="B"
    )
    return _settle_batch_norms(model, 96, 1, 1024.0)


def _torchvision_names(state: dict[str, torch.Tensor]) -> OrderedDict[str, torch.Tensor]:
    """MONAI's DenseNet names -> torchvision's (features.* alike; no '.layers'; classifier.*)."""
    renamed = OrderedDict()
    for key, value in state.items():
        key = key.replace(".layers.", ".").replace("class_layers.out.", "classifier.")
        renamed[key] = value.clone()
    return renamed


class _DenseLayer(nn.Sequential):
    pass


class _DenseBlock(nn.Sequential):
    pass


class _Transition(nn.Sequential):
    pass


class DenseNet(nn.Module):
    def __init__(self, outputs: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            OrderedDict(
                conv0=nn.Conv2d(1, 64, 7, 2, 3, bias=False),
                norm0=nn.BatchNorm2d(64),
                relu0=nn.ReLU(inplace=True),
                pool0=nn.MaxPool2d(3, 2, 1),
            )
        )
        channels = 64
        for i, layers in enumerate((6, 12, 24, 16)):
            block = _DenseBlock()
            for j in range(layers):
                layer = _DenseLayer()
                for name, module in (
                    ("norm1", nn.BatchNorm2d(channels + j * 32)),
                    ("relu1", nn.ReLU(inplace=True)),
                    ("conv1", nn.Conv2d(channels + j * 32, 128, 1, bias=False)),
                    ("norm2", nn.BatchNorm2d(128)),
                    ("relu2", nn.ReLU(inplace=True)),
                    ("conv2", nn.Conv2d(128, 32, 3, padding=1, bias=False)),
                ):
                    layer.add_module(name, module)
                block.add_module(f"denselayer{j + 1}", layer)
            self.features.add_module(f"denseblock{i + 1}", block)
            channels += layers * 32
            if i < 3:
                transition = _Transition()
                transition.add_module("norm", nn.BatchNorm2d(channels))
                transition.add_module("relu", nn.ReLU(inplace=True))
                transition.add_module("conv", nn.Conv2d(channels, channels // 2, 1, bias=False))
                transition.add_module("pool", nn.AvgPool2d(2, 2))
                self.features.add_module(f"transition{i + 1}", transition)
                channels //= 2
        self.features.add_module("norm5", nn.BatchNorm2d(channels))
        self.classifier = nn.Linear(channels, outputs)
        self.register_buffer("op_threshs", None)


@contextmanager
def torchxrayvision_classes() -> Iterator[None]:
    """The four classes importable as ``torchxrayvision.models.*`` while pickling (then removed)."""
    package, module = types.ModuleType("torchxrayvision"), types.ModuleType("torchxrayvision.models")
    for cls in (DenseNet, _DenseBlock, _DenseLayer, _Transition):
        cls.__module__ = "torchxrayvision.models"
        cls.__qualname__ = cls.__name__
        setattr(module, cls.__name__, cls)
    package.models = module  # type: ignore[attr-defined]
    sys.modules.update({"torchxrayvision": package, "torchxrayvision.models": module})
    try:
        yield
    finally:
        del sys.modules["torchxrayvision"], sys.modules["torchxrayvision.models"]
        for cls in (DenseNet, _DenseBlock, _DenseLayer, _Transition):
            cls.__module__ = __name__


def write_xrv_densenet(path: Path, seed: int = 0) -> nn.Module:
    """A torchxrayvision DenseNet-121 ``-best.pt`` file; returns the MONAI reference with its weights."""
    reference = reference_densenet(18, 1, seed, 1024.0)
    model = DenseNet(18)
    model.load_state_dict(_torchvision_names(reference.state_dict()))
    with torchxrayvision_classes():
        torch.save(model, path, _use_new_zipfile_serialization=False)
    return reference


def write_chexnet(path: Path, seed: int = 1) -> nn.Module:
    """arnoweng/CheXNet's ``model.pth.tar`` layout; returns the MONAI reference with its weights."""
    reference = reference_densenet(14, 3, seed, 1.0)
    state = OrderedDict()
    for key, value in _torchvision_names(reference.state_dict()).items():
        if key.endswith("num_batches_tracked"):
            continue
        key = re.sub(r"\.(norm|relu|conv)([12])\.", r".\1.\2.", key).replace("classifier.", "classifier.0.")
        state[f"module.densenet121.{key}"] = value
    checkpoint = {"epoch": 7, "arch": "densenet121", "state_dict": state, "best_loss": 0.153}
    torch.save(checkpoint, path, _use_new_zipfile_serialization=False)
    return reference


def write_xrv_resnet(path: Path, seed: int = 2) -> nn.Module:
    """torchxrayvision's ``pc-nih-rsna-siim-vin-resnet50-test512-e400-state.pt``: a state dict, zip container."""
    reference = reference_resnet(seed)
    torch.save(OrderedDict((k, v.clone()) for k, v in reference.state_dict().items()), path)
    return reference
