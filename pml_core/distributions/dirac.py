"""Deterministic embedding (docs/reference.md §1.3): parameters are the point itself."""

from __future__ import annotations

from typing import NamedTuple

import torch

from ..functional.vmf import normalize
from .common import BatchNormNormalizer, check_last_dim, expand_for_sample

__all__ = ["Dirac"]


class DiracParams(NamedTuple):
    mean: torch.Tensor  # (..., D)


class Dirac:
    """Point mass at mu (normalised when ``spherical``). Layout: P = D, params = mu."""

    DEFAULTS = {"dim": 512, "spherical": False}

    def __init__(self, dim: int = 512, spherical: bool = False):
        self.dim = int(dim)
        self.spherical = bool(spherical)

    is_spherical = property(lambda self: self.spherical)
    has_confidences = False
    num_parameters = property(lambda self: self.dim)

    def __repr__(self):
        return f"Dirac(dim={self.dim}, spherical={self.spherical})"

    def split(self, params: torch.Tensor) -> DiracParams:
        """(..., P) -> DiracParams(mean (..., D)); the mean is normalised when spherical."""
        check_last_dim(params, self.num_parameters, "Dirac")
        return DiracParams(normalize(params) if self.spherical else params)

    def join(self, mean: torch.Tensor) -> torch.Tensor:
        """mean (..., D) -> params (..., P)."""
        return mean

    def mean(self, params):
        """(..., P) -> (..., D)."""
        return self.split(params).mean

    mode = mean

    def sample(self, params: torch.Tensor, size) -> torch.Tensor:
        """The mean broadcast to (*size, D)."""
        return expand_for_sample(self.mean(params), size)

    def _no(self, what):
        raise NotImplementedError(f"Dirac distribution has no {what}; use a 'gmm' or 'vmf' distribution.")

    def confidences(self, params):
        self._no("confidences")

    def log_prob(self, params, points):
        self._no("density")

    logpdf = log_prob

    def prior_kld(self, params):
        self._no("prior KL divergence")

    def logmls(self, params1, params2):
        self._no("mutual likelihood score")

    def pdf_product(self, params1, params2):
        self._no("density product")

    def make_normalizer(self):
        """BatchNorm over all D entries."""
        return BatchNormNormalizer(self.num_parameters, 0, self.dim)

    def statistics(self, params) -> dict:
        return {}
