"""Architectures for CIFAR-sized inputs, each taking images in [0, 1] and normalizing inside.

Normalizing inside the model (a buffer-holding first layer) keeps everything else in pixel
space: attacks, epsilons (8/255) and augmentations never need to know a dataset's mean/std.
All models are plain feed-forward graphs (no data-dependent Python control flow), so they
work with ``channels_last``, ``torch.autocast`` and ``torch.compile``.
"""

from __future__ import annotations

import functools
import numbers
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

MODEL_NAMES = ("resnet18", "preact_resnet18", "wrn28_10", "small_cnn")

# Per-channel statistics of the training sets, in [0, 1] pixel units.
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
CIFAR100_MEAN = (0.5071, 0.4865, 0.4409)
CIFAR100_STD = (0.2673, 0.2564, 0.2762)
NORMALIZATION = {"cifar10": (CIFAR10_MEAN, CIFAR10_STD), "cifar100": (CIFAR100_MEAN, CIFAR100_STD)}


class Normalize(nn.Module):
    """``(x - mean) / std`` per channel, with mean/std as buffers so they follow ``.to(device)``
    and are saved in checkpoints (a checkpoint then records which normalization it was trained with)."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class Normalized(nn.Module):
    """A network preceded by its input normalization: ``net(normalize(x))``."""

    def __init__(self, normalize: Normalize, net: nn.Module) -> None:
        super().__init__()
        self.normalize = normalize
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.normalize(x))


def _conv3x3(c_in: int, c_out: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, kernel_size=3, stride=stride, padding=1, bias=False)


def _projection(c_in: int, c_out: int, stride: int) -> nn.Conv2d | None:
    """1x1 shortcut convolution, needed only when the block changes shape."""
    if stride == 1 and c_in == c_out:
        return None
    return nn.Conv2d(c_in, c_out, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """Post-activation residual block (He et al. 2015): conv-BN-ReLU-conv-BN, add, ReLU."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = _conv3x3(c_in, c_out, stride)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = _conv3x3(c_out, c_out)
        self.bn2 = nn.BatchNorm2d(c_out)
        proj = _projection(c_in, c_out, stride)
        self.shortcut = nn.Identity() if proj is None else nn.Sequential(proj, nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class PreActBlock(nn.Module):
    """Pre-activation block (He et al. 2016 "identity mappings"; also the WideResNet block):
    BN-ReLU-conv-BN-ReLU-[dropout]-conv, added to the identity or to a 1x1 projection of the
    pre-activated input when the shape changes."""

    def __init__(self, c_in: int, c_out: int, stride: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(c_in)
        self.conv1 = _conv3x3(c_in, c_out, stride)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.conv2 = _conv3x3(c_out, c_out)
        self.shortcut = _projection(c_in, c_out, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = F.relu(self.bn1(x))
        skip = x if self.shortcut is None else self.shortcut(pre)
        out = self.conv1(pre)
        out = self.conv2(self.dropout(F.relu(self.bn2(out))))
        return out + skip


def _stages(
    block: Callable[[int, int, int], nn.Module],
    c_in: int,
    widths: Sequence[int],
    depths: Sequence[int],
    strides: Sequence[int],
) -> nn.Sequential:
    """Stack residual stages; only the first block of a stage strides or changes width."""
    layers: list[nn.Module] = []
    for width, depth, stride in zip(widths, depths, strides):
        for i in range(depth):
            layers.append(block(c_in, width, stride if i == 0 else 1))
            c_in = width
    return nn.Sequential(*layers)


class ResNet18(nn.Module):
    """CIFAR ResNet-18: 3x3 stride-1 stem, no max-pool, BasicBlock [2, 2, 2, 2], widths 64..512."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.conv1 = _conv3x3(3, 64)
        self.bn1 = nn.BatchNorm2d(64)
        self.layers = _stages(BasicBlock, 64, (64, 128, 256, 512), (2, 2, 2, 2), (1, 2, 2, 2))
        self.linear = nn.Linear(512, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.layers(F.relu(self.bn1(self.conv1(x))))
        return self.linear(F.adaptive_avg_pool2d(out, 1).flatten(1))


class PreActNet(nn.Module):
    """Pre-activation residual network: 3x3 stem, PreActBlock stages, final BN-ReLU, pool, linear.

    Covers both PreAct ResNet-18 and WideResNet-28-10, which differ only in widths and depths.
    """

    def __init__(
        self,
        num_classes: int,
        stem: int,
        widths: Sequence[int],
        depths: Sequence[int],
        strides: Sequence[int],
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.conv1 = _conv3x3(3, stem)
        self.layers = _stages(functools.partial(PreActBlock, dropout=dropout), stem, widths, depths, strides)
        self.bn = nn.BatchNorm2d(widths[-1])
        self.linear = nn.Linear(widths[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn(self.layers(self.conv1(x))))
        return self.linear(F.adaptive_avg_pool2d(out, 1).flatten(1))


class SmallCNN(nn.Module):
    """Three conv-BN-ReLU-maxpool blocks (32, 64, 128 channels), then a linear layer.

    Sized for CPU demos and tests: seconds per epoch on a few thousand images, yet it learns
    CIFAR well above chance within an epoch.
    """

    def __init__(self, num_classes: int, widths: Sequence[int] = (32, 64, 128)) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 3
        for width in widths:
            layers += [_conv3x3(c_in, width), nn.BatchNorm2d(width), nn.ReLU(inplace=True), nn.MaxPool2d(2)]
            c_in = width
        self.features = nn.Sequential(*layers)
        self.linear = nn.Linear(c_in, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(F.adaptive_avg_pool2d(self.features(x), 1).flatten(1))


_BUILDERS: dict[str, Callable[[int], nn.Module]] = {
    "resnet18": ResNet18,
    "preact_resnet18": lambda k: PreActNet(k, 64, (64, 128, 256, 512), (2, 2, 2, 2), (1, 2, 2, 2)),
    "wrn28_10": lambda k: PreActNet(k, 16, (160, 320, 640), (4, 4, 4), (1, 2, 2)),
    "small_cnn": SmallCNN,
}


def build_model(name: str, num_classes: int, dataset: str = "cifar10") -> nn.Module:
    """Build ``name`` for ``num_classes`` classes, normalizing [0, 1] inputs with ``dataset``'s statistics.

    The result is a :class:`Normalized` module: ``model.net`` is the bare network.
    """
    if name not in _BUILDERS:
        raise ValueError(f"unknown model {name!r}: choose one of {', '.join(MODEL_NAMES)}")
    if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral) or num_classes < 2:
        raise ValueError(f"num_classes must be an integer >= 2, got {num_classes!r}")
    if dataset not in NORMALIZATION:
        raise ValueError(f"unknown dataset {dataset!r} for normalization: choose one of {', '.join(NORMALIZATION)}")
    mean, std = NORMALIZATION[dataset]
    return Normalized(Normalize(mean, std), _BUILDERS[name](int(num_classes)))
