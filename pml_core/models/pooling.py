"""Global pooling of a CNN feature map (docs/reference.md §5.2).

`avg` and `max` are adaptive poolings to 1x1; `multi` combines several poolings given by a mode string
(``a`` average, ``m`` max, a digit ``p`` generalised-mean (power) pooling) by summing or concatenating.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import ConfigError


class PowerPool2d(nn.Module):
    """Generalised-mean pooling ``(mean x^p)^(1/p)`` over the spatial axes: (B, C, H, W) -> (B, C, 1, 1).

    The reference computes this and returns the input map unchanged (docs/reference.md §12.4); here the
    pooled value is returned (docs/deviations.md).
    """

    def __init__(self, power: float, eps: float = 1e-6):
        super().__init__()
        self.power = float(power)
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.clamp(min=self.eps).pow(self.power).mean(dim=(-2, -1), keepdim=True).pow(1.0 / self.power)


def _single(mode: str) -> nn.Module:
    if mode == "a":
        return nn.AdaptiveAvgPool2d(1)
    if mode == "m":
        return nn.AdaptiveMaxPool2d(1)
    if mode.isdigit():
        return PowerPool2d(int(mode))
    raise ConfigError(f"unknown pooling mode {mode!r} in pooling_params.mode: use 'a' (avg), 'm' (max) or a digit (power)")


class MultiPool2d(nn.Module):
    """Several global poolings of one map, summed (``aggregate="sum"``) or concatenated (``"cat"``).

    (B, C, H, W) -> (B, C, 1, 1) for sum, (B, C * len(mode), 1, 1) for cat.
    """

    def __init__(self, mode: str = "am", aggregate: str = "sum"):
        super().__init__()
        if aggregate not in ("sum", "cat"):
            raise ConfigError(f"pooling_params.aggregate must be 'sum' or 'cat', got {aggregate!r}")
        if not mode:
            raise ConfigError("pooling_params.mode must name at least one pooling ('a', 'm' or a digit)")
        self.pools = nn.ModuleList([_single(m) for m in mode])
        self.aggregate = aggregate

    @property
    def channels_multiplier(self) -> int:
        return len(self.pools) if self.aggregate == "cat" else 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs = [pool(x) for pool in self.pools]
        if self.aggregate == "cat":
            return torch.cat(outputs, dim=1)
        return torch.stack(outputs, dim=0).sum(dim=0)


POOLINGS = ("avg", "max", "multi")


def make_pooling(pooling_type: str, pooling_params: dict | None) -> tuple[nn.Module, int]:
    """The pooling module and its channel multiplier."""
    params = dict(pooling_params or {})
    if pooling_type == "avg":
        module: nn.Module = nn.AdaptiveAvgPool2d(1)
    elif pooling_type == "max":
        module = nn.AdaptiveMaxPool2d(1)
    elif pooling_type == "multi":
        unknown = set(params) - {"mode", "aggregate"}
        if unknown:
            raise ConfigError(f"unknown pooling_params keys {sorted(unknown)} for multi pooling: valid mode, aggregate")
        module = MultiPool2d(**params)
        return module, module.channels_multiplier
    else:
        from ..registry import lookup

        lookup("pooling_type", {name: None for name in POOLINGS}, pooling_type)
    if params:
        raise ConfigError(f"pooling_params are only used by pooling_type 'multi', got {params} for {pooling_type!r}")
    return module, 1
