"""Embedding distributions: ``dirac``, ``gmm`` (single Gaussian) and ``vmf`` (docs/reference.md §1).

Interface of every distribution: attributes ``dim``, ``is_spherical``, ``has_confidences``,
``num_parameters``; methods ``split``/``join``, ``mean``, ``mode``, ``confidences``, ``log_prob``
(alias ``logpdf``), ``sample(params, size)``, ``prior_kld``, ``logmls``, ``pdf_product``,
``make_normalizer``, ``statistics``. There is no mixture axis (every reference distribution has one
component, so dropping the axis changes no number).
"""

from __future__ import annotations

from typing import Any, Mapping

from ..errors import ConfigError, closest
from ..registry import lookup
from .dirac import Dirac
from .gaussian import Gaussian
from .vmf import VonMisesFisher

__all__ = ["DISTRIBUTIONS", "Dirac", "Gaussian", "VonMisesFisher", "create_distribution", "validate_params"]

DISTRIBUTIONS = {"dirac": Dirac, "gmm": Gaussian, "vmf": VonMisesFisher}


def validate_params(name: str, params: Mapping[str, Any] | None) -> dict:
    """Defaults of distribution ``name`` updated by ``params``; ConfigError naming the closest key on an unknown key."""
    cls = lookup("distribution", DISTRIBUTIONS, name)
    merged = dict(cls.DEFAULTS)
    for key, value in (params or {}).items():
        if key not in cls.DEFAULTS:
            hint = closest(key, cls.DEFAULTS)
            suggestion = f" Did you mean {hint!r}?" if hint else ""
            raise ConfigError(
                f"unknown distribution_params key {key!r} for distribution {name!r}.{suggestion} "
                f"Valid keys: {', '.join(sorted(cls.DEFAULTS))}."
            )
        merged[key] = value
    return merged


def create_distribution(name: str = "dirac", params: Mapping[str, Any] | None = None):
    """Build the distribution registered as ``name`` ("dirac", "gmm", "vmf") with the reference defaults."""
    merged = validate_params(name, params)
    return DISTRIBUTIONS[name](**merged)
