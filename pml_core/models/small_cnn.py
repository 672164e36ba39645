"""The small CNN of the embedded default (32x32 RGB glyph images).

Four conv3x3 + BN + ReLU blocks of 16-32-64-128 channels, 2x2 max-pooling after the first three:
(B, 3, 32, 32) -> (B, 128, 4, 4); about 0.1M parameters and 4 MMAC per image, so that the smoke profile
trains every method of the paper on two CPU cores in minutes. Any input size >= 8 px works.

The layers compute in the channels-last memory layout (the output is returned contiguous): on the CPU the
oneDNN convolutions, batch norms and max-pools of these small maps run 1.6-2x faster in it than in the
default layout (BENCHMARKS.md, "Glyphs tuning"). The values are those of the same layers; only the order of
floating-point operations differs.
"""

from __future__ import annotations

import torch
from torch import nn

SMALL_CNN_CHANNELS = (16, 32, 64, 128)


class SmallCNN(nn.Module):
    """(B, in_channels, H, W) -> (B, channels[-1], H/8, W/8) feature map."""

    def __init__(self, in_channels: int = 3, channels: tuple[int, ...] = SMALL_CNN_CHANNELS):
        super().__init__()
        layers: list[nn.Module] = []
        previous = in_channels
        for index, width in enumerate(channels):
            layers += [nn.Conv2d(previous, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
            if index < len(channels) - 1:
                layers.append(nn.MaxPool2d(2))
            previous = width
        self.features = nn.Sequential(*layers)
        self.out_channels = previous
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        features = self.features(images.contiguous(memory_format=torch.channels_last))
        return features.contiguous()
