"""`arcface` and `cosface` heads (docs/reference.md §2.2, §2.3); math in `functional.heads_margin`."""

from __future__ import annotations

import torch
from torch import nn

from ..functional.heads_margin import arcface_logits, cosface_logits
from .common import check_unknown, require_spherical, sample_points, scale_parameter, xavier_weight


class ArcFaceHead(nn.Module):
    """(B, P) -> (B, C) ArcFace logits of a sample (or the mean); margin in radians."""

    DEFAULTS = {"sample": True, "scale": 64.0, "margin": 0.5}
    has_weight = True

    def __init__(self, distribution, num_classes: int, class_priors=None, **params):
        super().__init__()
        p = check_unknown("arcface", self.DEFAULTS, params)
        require_spherical("arcface", distribution)
        self.params = p
        self.distribution = distribution
        self.weight = xavier_weight(num_classes, distribution.dim)
        scale_parameter(self, p["scale"])
        self.margin = float(p["margin"])

    def forward(self, params: torch.Tensor, labels: torch.Tensor | None = None, scorer=None) -> torch.Tensor:
        x = sample_points(self.distribution, params, self.params["sample"])
        return arcface_logits(x, self.weight, labels, scale=self.scale, margin=self.margin)


class CosFaceHead(nn.Module):
    """(B, P) -> (B, C) CosFace logits of a sample (always sampled, as the reference)."""

    DEFAULTS = {"scale": 64.0, "margin": 0.35, "symmetric": False}
    has_weight = True

    def __init__(self, distribution, num_classes: int, class_priors=None, **params):
        super().__init__()
        p = check_unknown("cosface", self.DEFAULTS, params)
        require_spherical("cosface", distribution)
        self.params = p
        self.distribution = distribution
        self.weight = xavier_weight(num_classes, distribution.dim)
        scale_parameter(self, p["scale"])
        self.margin = float(p["margin"])
        self.symmetric = bool(p["symmetric"])

    def forward(self, params: torch.Tensor, labels: torch.Tensor | None = None, scorer=None) -> torch.Tensor:
        x = sample_points(self.distribution, params, True)
        return cosface_logits(x, self.weight, labels, scale=self.scale, margin=self.margin, symmetric=self.symmetric)
