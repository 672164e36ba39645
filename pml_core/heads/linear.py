"""`linear` head (docs/reference.md §2.1): logits = x W^T + b with x a sample (or the mean)."""

from __future__ import annotations

import math

import torch
from torch import nn

from .common import check_unknown, sample_points


class LinearHead(nn.Module):
    """(B, P) -> (B, C)."""

    DEFAULTS = {
        "sample": True,
        "use_bias": True,
        "initial_scale": 1.0,
        "normalize_weights": False,
        "use_variance": False,
        "initial_variance": 1.0,
        "variance_parametrization": "exp",
        "freeze_variance": False,
        "variance_center": 0.0,
        "variance_scale": 1.0,
    }
    has_weight = True

    def __init__(self, distribution, num_classes: int, class_priors=None, **params):
        super().__init__()
        p = check_unknown("linear", self.DEFAULTS, params)
        self.params = p
        self.distribution = distribution
        layer = nn.Linear(distribution.dim, num_classes, bias=p["use_bias"])
        self.weight = nn.Parameter(layer.weight.detach() * p["initial_scale"])
        self.bias = nn.Parameter(layer.bias.detach() * p["initial_scale"]) if p["use_bias"] else None
        if p["use_variance"]:
            if p["variance_parametrization"] != "exp":
                from ..errors import ConfigError

                raise ConfigError("only variance_parametrization: exp is supported by the linear head")
            hidden = (math.log(p["initial_variance"]) / 1.0 + p["variance_center"]) * p["variance_scale"]
            self.hidden_variance = nn.Parameter(torch.tensor(float(hidden)), requires_grad=not p["freeze_variance"])
        else:
            self.hidden_variance = None

    @property
    def variance(self) -> torch.Tensor | None:
        """Scalar trainable variance (exported for logging only, as in the reference)."""
        if self.hidden_variance is None:
            return None
        return torch.exp(self.hidden_variance / self.params["variance_scale"] - self.params["variance_center"])

    def forward(self, params: torch.Tensor, labels: torch.Tensor | None = None, scorer=None) -> torch.Tensor:
        x = sample_points(self.distribution, params, self.params["sample"])
        weight = self.weight
        if self.params["normalize_weights"]:
            weight = weight / torch.linalg.norm(weight)
        logits = x @ weight.t()
        if self.bias is not None:
            logits = logits + self.bias
        return logits
