"""Identity embedder: inputs already are (B, P) parameter vectors; optional distribution normaliser."""

from __future__ import annotations

import torch
from torch import nn

from ..errors import ConfigError


class IdentityEmbedder(nn.Module):
    """(B, P) -> (B, P) (normalised by the distribution's normaliser if ``head_normalize``)."""

    DEFAULTS = {"head_normalize": True, "freeze_normalizer": False}

    def __init__(self, out_features: int, normalizer: nn.Module | None = None, **params):
        super().__init__()
        unknown = set(params) - set(self.DEFAULTS)
        if unknown:
            raise ConfigError(f"unknown embedder_params {sorted(unknown)} for embedder 'identity'; valid: {sorted(self.DEFAULTS)}")
        p = {**self.DEFAULTS, **params}
        self.out_features = out_features
        self._normalizer = normalizer if p["head_normalize"] else None
        self._frozen = p["freeze_normalizer"] and self._normalizer is not None
        if self._frozen:
            for parameter in self._normalizer.parameters():
                parameter.requires_grad_(False)

    def train(self, mode: bool = True) -> "IdentityEmbedder":
        super().train(mode)
        if self._frozen:
            self._normalizer.eval()
        return self

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        if inputs.shape[-1] != self.out_features:
            raise ConfigError(f"identity embedder expects {self.out_features} input features, got {inputs.shape[-1]}")
        out = inputs.float()
        return self._normalizer(out) if self._normalizer is not None else out
