"""Gaussian embedding (config name ``gmm``, a single component; docs/reference.md §1.4)."""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from ..errors import ConfigError
from ..functional import gaussian as F
from ..functional.parametrization import Parametrization
from ..functional.vmf import normalize
from .common import BatchNormNormalizer, check_last_dim, expand_for_sample

__all__ = ["Gaussian"]


class GaussianParams(NamedTuple):
    mean: torch.Tensor  # (..., D), normalised when spherical
    log_variance: torch.Tensor  # (..., 1) isotropic / fixed, (..., D) diagonal


class Gaussian:
    """N(mu, diag sigma^2) in R^D.

    Layout ``[mu (D) | h]`` with h of length 1 (covariance "spherical" = isotropic), D ("diagonal")
    or 0 (a number = fixed variance). sigma^2 = positive(h) with the parametrisation
    (type, min = e^-max_logivar, max = e^-min_logivar). ``spherical=True`` normalises the mean (and
    the query points of ``log_prob``); the density stays a Euclidean Gaussian.
    """

    DEFAULTS = {
        "dim": 512,
        "spherical": False,
        "covariance": "spherical",
        "parametrization": "invlin",
        "min_logivar": None,
        "max_logivar": 10,
    }

    def __init__(self, dim=512, spherical=False, covariance="spherical", parametrization="invlin", min_logivar=None, max_logivar=10):
        self.dim = int(dim)
        if self.dim < 1:
            raise ConfigError(f"gmm dim must be >= 1, got {dim}")
        self.spherical = bool(spherical)
        if isinstance(covariance, str):
            if covariance not in ("spherical", "diagonal"):
                raise ConfigError(f"gmm covariance must be 'spherical', 'diagonal' or a positive number, got {covariance!r}")
            self.fixed_variance = None
        else:
            if not float(covariance) > 0:
                raise ConfigError(f"gmm fixed covariance must be a positive number, got {covariance!r}")
            self.fixed_variance = float(covariance)
        self.covariance = covariance
        self.parametrization = Parametrization(
            parametrization,
            min=0.0 if max_logivar is None else math.exp(-max_logivar),
            max=None if min_logivar is None else math.exp(-min_logivar),
        )

    def __repr__(self):
        return f"Gaussian(dim={self.dim}, covariance={self.covariance!r}, spherical={self.spherical})"

    is_spherical = property(lambda self: self.spherical)
    has_confidences = True

    @property
    def num_hidden(self) -> int:
        if self.fixed_variance is not None:
            return 0
        return 1 if self.covariance == "spherical" else self.dim

    @property
    def num_parameters(self) -> int:
        return self.dim + self.num_hidden

    def split(self, params: torch.Tensor) -> GaussianParams:
        """(..., P) -> GaussianParams(mean (..., D), log_variance (..., 1 | D))."""
        check_last_dim(params, self.num_parameters, "Gaussian")
        mean = params[..., : self.dim]
        if self.spherical:
            mean = normalize(mean)
        if self.fixed_variance is not None:
            log_var = torch.full((*params.shape[:-1], 1), math.log(self.fixed_variance), dtype=params.dtype, device=params.device)
        else:
            log_var = self.parametrization.log_positive(params[..., self.dim :])
        return GaussianParams(mean, log_var)

    def join(self, mean: torch.Tensor, log_variance: torch.Tensor | None = None) -> torch.Tensor:
        """mean (..., D), log_variance (..., 1 | D) -> params (..., P) (log_variance ignored for a fixed covariance)."""
        if self.fixed_variance is not None:
            return mean
        if log_variance is None:
            raise ValueError("Gaussian.join needs log_variance for a learned covariance")
        hidden = self.parametrization.ipositive(torch.exp(log_variance))
        hidden = hidden.expand(*mean.shape[:-1], self.num_hidden)
        return torch.cat([mean, hidden], dim=-1)

    def mean(self, params):
        """(..., P) -> (..., D)."""
        return self.split(params).mean

    mode = mean

    def confidences(self, params):
        """-mean_d log sigma_d^2. (..., P) -> (...)."""
        return F.gaussian_confidence(self.split(params).log_variance)

    def log_prob(self, params, points):
        """params (..., P), points (..., D) -> (...) (points normalised first when spherical)."""
        p = self.split(params)
        if self.spherical:
            points = normalize(points)
        return F.gaussian_logpdf(p.mean, p.log_variance, points)

    logpdf = log_prob

    def sample(self, params, size, generator=None):
        """Reparametrised samples (*size, D); params broadcast by appending singleton axes (no re-projection)."""
        p = self.split(expand_for_sample(params, size))
        return F.gaussian_sample(p.mean, p.log_variance, generator=generator)

    def prior_kld(self, params):
        """KL(N(mu, diag sigma^2) || N(0, I)). (..., P) -> (...). Works for fixed covariances too."""
        p = self.split(params)
        return F.gaussian_prior_kld(p.mean, p.log_variance)

    def logmls(self, params1, params2):
        """log int N1 N2 (constants included); leading axes broadcast. -> (...)."""
        p1, p2 = self.split(params1), self.split(params2)
        return F.gaussian_mls(p1.mean, p1.log_variance, p2.mean, p2.log_variance)

    def pdf_product(self, params1, params2):
        """Params of the renormalised product density (same layout). Not available for a fixed covariance."""
        if self.fixed_variance is not None:
            raise ConfigError("gmm pdf_product needs a learned covariance ('spherical' or 'diagonal'), not a fixed number")
        p1, p2 = self.split(params1), self.split(params2)
        mean, log_var = F.gaussian_pdf_product(p1.mean, p1.log_variance, p2.mean, p2.log_variance)
        return self.join(mean, log_var)

    def make_normalizer(self):
        """BatchNorm over the D mean entries; variance entries untouched."""
        return BatchNormNormalizer(self.num_parameters, 0, self.dim)

    def statistics(self, params) -> dict:
        std = torch.exp(0.5 * self.split(params).log_variance.detach())
        return {"gmm_std/mean": std.mean().item(), "gmm_std/std": std.std().item() if std.numel() > 1 else 0.0}
