"""Untrained reference architectures, for hardware studies that need only shapes.

``vgg11-cifar``: VGG-11 (configuration A) on 32 x 32 CIFAR images with batch norm and one linear
classifier. ``tiny-yolo-v2``: Tiny YOLOv2 for VOC on 416 x 416 images (nine 3 x 3 / 1 x 1
convolutions, five stride-2 max poolings and one stride-1 max pooling after right/bottom padding,
125 output channels = 5 anchors x 25). Their weights are random: use them for latency, footprint and
scheduling, never for accuracy.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

VGG11 = (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M")
TINY_YOLO_V2 = (16, "M", 32, "M", 64, "M", 128, "M", 256, "M", 512, "M1", 1024, 1024)


def _conv_block(channels: int, filters: int, activation: nn.Module) -> list[nn.Module]:
    return [nn.Conv2d(channels, filters, 3, padding=1, bias=False), nn.BatchNorm2d(filters), activation]


def vgg11_cifar() -> nn.Sequential:
    """VGG-11 for 3 x 32 x 32 inputs and 10 classes."""
    layers: list[nn.Module] = []
    channels = 3
    for item in VGG11:
        if item == "M":
            layers.append(nn.MaxPool2d(2))
        else:
            layers += _conv_block(channels, item, nn.ReLU())
            channels = item
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(512, 10))


def tiny_yolo_v2() -> nn.Sequential:
    """Tiny YOLOv2 (VOC) for 3 x 416 x 416 inputs: a 13 x 13 x 125 output grid."""
    layers: list[nn.Module] = []
    channels = 3
    for item in TINY_YOLO_V2:
        if item == "M":
            layers.append(nn.MaxPool2d(2))
        elif item == "M1":
            layers += [nn.ZeroPad2d((0, 1, 0, 1)), nn.MaxPool2d(2, stride=1)]
        else:
            layers += _conv_block(channels, item, nn.LeakyReLU(0.1))
            channels = item
    return nn.Sequential(*layers, nn.Conv2d(channels, 125, 1))


ARCHITECTURES: dict[str, tuple[Callable[[], nn.Module], tuple[int, ...]]] = {
    "vgg11-cifar": (vgg11_cifar, (1, 3, 32, 32)),
    "tiny-yolo-v2": (tiny_yolo_v2, (1, 3, 416, 416)),
}
"""Name -> (builder, example input shape)."""


def build_architecture(name: str) -> tuple[nn.Module, torch.Tensor]:
    """The model (eval mode, fixed seed) and a zero example input of architecture ``name``."""
    if name not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {name!r}; valid: {', '.join(ARCHITECTURES)}")
    builder, shape = ARCHITECTURES[name]
    torch.manual_seed(0)
    return builder().eval(), torch.zeros(shape)
