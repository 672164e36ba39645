"""Shared helpers of the classifier heads: parameter checks, points from distribution parameters."""

from __future__ import annotations

import torch
from torch import nn

from ..errors import ConfigError


def check_unknown(name: str, defaults: dict, params: dict) -> dict:
    unknown = set(params) - set(defaults)
    if unknown:
        raise ConfigError(f"unknown classifier_params {sorted(unknown)} for classifier {name!r}; valid: {sorted(defaults)}")
    return {**defaults, **params}


def require_spherical(name: str, distribution) -> None:
    if not getattr(distribution, "is_spherical", False):
        raise ConfigError(
            f"classifier {name!r} needs a spherical distribution: set model_params.distribution_params.spherical: true "
            "(dirac/gmm) or use distribution_type vmf"
        )


def sample_points(distribution, params: torch.Tensor, sample: bool = True) -> torch.Tensor:
    """(B, P) -> (B, D): one sample per row (``sample``) or the distribution mean."""
    if sample:
        samples = distribution.sample(params, params.shape[:-1])
        if isinstance(samples, tuple):
            samples = samples[0]
        return samples
    return distribution.mean(params)


def xavier_weight(rows: int, cols: int) -> nn.Parameter:
    weight = torch.empty(rows, cols)
    nn.init.xavier_uniform_(weight)
    return nn.Parameter(weight)


def scale_parameter(module: nn.Module, scale) -> None:
    """``scale: trainable`` -> a parameter initialised to 1 (``module.log_scale`` unused); else a float."""
    if scale == "trainable":
        module.scale = nn.Parameter(torch.ones([]))
    elif isinstance(scale, str):
        raise ConfigError(f"classifier_params.scale must be a number or 'trainable', got {scale!r}")
    else:
        module.scale = float(scale)
