"""CIFAR-10 ResNets (He et al. 2016, section 4.2) with option-A shortcuts, and their pretrained weights.

Depth 6n+2: a 3x3 convolution to 16 channels, three stages of n basic blocks at widths 16, 32
and 64 (stride 2 entering stages 2 and 3), global average pooling and a linear classifier.
Where width or resolution changes, the shortcut subsamples by 2 and zero-pads the new channels
(no parameters). Parameter names match the pretrained checkpoints in ``resnet-cifar10/``.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torch.nn import functional

from tessera.zoo import cifar
from tessera.zoo.checkpoint import load_state_dict
from tessera.zoo.evaluation import first, split_batches, top1_pct
from tessera.zoo.files import FileFormatError, find_one
from tessera.zoo.registry import ModelSpec, Progress, register

DEPTHS = (20, 32, 44, 56)
REFERENCE_TOP1_PCT = {20: 81.0, 32: 82.6, 44: 82.7, 56: 83.2}  # data README, on the JPEG test set


class PadShortcut(nn.Module):
    """Option-A shortcut: keep every ``stride``-th pixel, zero-pad channels equally on both sides."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        self.pad = (out_channels - in_channels) // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        return functional.pad(x, (0, 0, 0, 0, self.pad, self.pad))


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm, added to the shortcut, then ReLU."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu2 = nn.ReLU()
        changes = stride != 1 or in_channels != out_channels
        self.shortcut = PadShortcut(in_channels, out_channels, stride) if changes else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu1(self.bn1(self.conv1(x)))
        return self.relu2(self.bn2(self.conv2(out)) + self.shortcut(x))


class CifarResNet(nn.Module):
    """ResNet-``depth`` for 32x32 RGB inputs; ``depth`` = 6n + 2."""

    def __init__(self, depth: int, num_classes: int = 10) -> None:
        super().__init__()
        if depth < 8 or (depth - 2) % 6:
            raise ValueError(f"CIFAR ResNet depth must be 6n+2 with n >= 1, got {depth}")
        blocks = (depth - 2) // 6
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU()
        self.layer1 = self._stage(16, 16, blocks, stride=1)
        self.layer2 = self._stage(16, 32, blocks, stride=2)
        self.layer3 = self._stage(32, 64, blocks, stride=2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.linear = nn.Linear(64, num_classes)

    @staticmethod
    def _stage(in_channels: int, out_channels: int, blocks: int, stride: int) -> nn.Sequential:
        first_block = BasicBlock(in_channels, out_channels, stride)
        rest = [BasicBlock(out_channels, out_channels, 1) for _ in range(blocks - 1)]
        return nn.Sequential(first_block, *rest)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.linear(torch.flatten(self.pool(x), 1))


def pretrained_resnet(depth: int, data_dir: Path) -> CifarResNet:
    """ResNet-``depth`` with the weights from ``resnet-cifar10/resnet{depth}-*.th``, in eval mode."""
    path = find_one(data_dir, "resnet-cifar10", f"resnet{depth}-*.th")
    model = CifarResNet(depth)
    try:
        model.load_state_dict(load_state_dict(path))
    except RuntimeError as err:
        raise FileFormatError(path, f"weights do not fit ResNet-{depth}: {err}") from err
    return model.eval()


def calibration(data_dir: Path | None, n_samples: int, batch_size: int) -> list[torch.Tensor]:
    """Normalised training images (N, 3, 32, 32): the first ``n_samples`` of ``data_batch_1.bin``
    (then ``data_batch_2.bin``), whose classes are mixed."""
    assert data_dir is not None
    images, _ = cifar.load_cifar10(data_dir, "train", limit=n_samples)
    return split_batches(cifar.normalise(images), n_samples, batch_size)


def evaluate(model: nn.Module, data_dir: Path | None, limit: int | None, progress: Progress | None) -> float:
    """Top-1 accuracy in percent on the 10k test images, or on the first ``limit`` of them in
    class round-robin order (``cifar.round_robin_order``: 1000 = the first 100 of each class)."""
    assert data_dir is not None
    images, labels = cifar.load_cifar10(data_dir, "test")
    chosen = cifar.round_robin_order(labels)[: first(limit, len(labels))]
    return top1_pct(model, cifar.normalise(images[chosen]), labels[chosen], 500, progress)


def _spec(depth: int) -> ModelSpec:
    return ModelSpec(
        name=f"resnet{depth}",
        metric="top1_pct",
        higher_is_better=True,
        dataset="CIFAR-10 test (JPEG q75)",
        description=(
            f"ResNet-{depth} for CIFAR-10 (option-A shortcuts), pretrained by "
            f"akamaster/pytorch_resnet_cifar10; reference {REFERENCE_TOP1_PCT[depth]} % on this test set"
        ),
        needs_data=True,
        builder=lambda data_dir: pretrained_resnet(depth, data_dir),
        calibrator=calibration,
        evaluator=evaluate,
    )


SPECS = [register(_spec(depth)) for depth in DEPTHS]
