"""`scorer` head (docs/reference.md §2.7): one distribution per class, logits = scorer(params, W_c) (+ bias).

Used by Proxy-NCA (``use_bias: false``); the loss reads the proxies from ``weight`` (C, P).
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import ConfigError
from .common import check_unknown


class ScorerHead(nn.Module):
    """(B, P) -> (B, C)."""

    DEFAULTS = {"use_bias": True}
    has_weight = True

    def __init__(self, distribution, num_classes: int, class_priors=None, **params):
        super().__init__()
        p = check_unknown("scorer", self.DEFAULTS, params)
        self.params = p
        layer = nn.Linear(distribution.num_parameters, num_classes, bias=p["use_bias"])
        self.weight = nn.Parameter(layer.weight.detach().clone())
        self.bias = nn.Parameter(layer.bias.detach().clone()) if p["use_bias"] else None

    def forward(self, params: torch.Tensor, labels: torch.Tensor | None = None, scorer=None) -> torch.Tensor:
        if scorer is None:
            raise ConfigError("the 'scorer' classifier needs the model's scorer")
        logits = scorer(params[:, None, :], self.weight[None, :, :])
        if self.bias is not None:
            logits = logits + self.bias
        return logits
