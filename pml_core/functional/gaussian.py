"""Gaussian densities in R^D with diagonal or isotropic covariance (docs/reference.md §1.4).

Conventions: ``mean`` (..., D); ``log_var`` (..., D) for a diagonal covariance or (..., 1) for an
isotropic one (broadcast over D). Leading axes of all arguments broadcast. Everything is exact,
with all additive constants included.
"""

from __future__ import annotations

import math

import torch

__all__ = [
    "gaussian_logpdf",
    "gaussian_mls",
    "gaussian_prior_kld",
    "gaussian_pdf_product",
    "gaussian_sample",
    "gaussian_confidence",
]

_LOG_2PI = math.log(2 * math.pi)


def _full(log_var: torch.Tensor, dim: int) -> torch.Tensor:
    """(..., 1) or (..., D) -> (..., D)."""
    return log_var.expand(*log_var.shape[:-1], dim) if log_var.shape[-1] == 1 else log_var


def gaussian_logpdf(mean: torch.Tensor, log_var: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """log N(x; mean, diag(exp(log_var))) = -(D/2) log 2 pi - 1/2 sum log var - 1/2 sum (x - mean)^2 / var.

    Shapes: mean (..., D), log_var (..., D | 1), x (..., D) -> (...).
    """
    dim = mean.shape[-1]
    lv = _full(log_var, dim)
    quad = ((x - mean) ** 2 * torch.exp(-lv)).sum(-1)
    return -0.5 * (dim * _LOG_2PI + lv.sum(-1) + quad)


def gaussian_mls(mean1, log_var1, mean2, log_var2) -> torch.Tensor:
    """Log mutual likelihood score log int N(z; m1, S1) N(z; m2, S2) dz = log N(m1; m2, S1 + S2).

    = -(D/2) log 2 pi - 1/2 sum_d [(m1_d - m2_d)^2 / s_d + log s_d], s = var1 + var2.
    Shapes: means (..., D), log variances (..., D | 1), leading axes broadcast -> (...).
    """
    dim = torch.broadcast_shapes(mean1.shape, mean2.shape)[-1]
    log_s = torch.logaddexp(log_var1, log_var2)
    quad = ((mean1 - mean2) ** 2 * torch.exp(-log_s)).sum(-1)
    log_det = log_s.sum(-1) * (dim if log_s.shape[-1] == 1 else 1)
    return -0.5 * (dim * _LOG_2PI + log_det + quad)


def gaussian_prior_kld(mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, diag var) || N(0, I)) = 1/2 (sum var + |mean|^2 - D - sum log var).

    Shapes: mean (..., D), log_var (..., D | 1) -> (...).
    """
    dim = mean.shape[-1]
    lv = _full(log_var, dim)
    return 0.5 * (torch.exp(lv).sum(-1) + (mean**2).sum(-1) - dim - lv.sum(-1))


def gaussian_pdf_product(mean1, log_var1, mean2, log_var2) -> tuple[torch.Tensor, torch.Tensor]:
    """Renormalised product of two Gaussian densities: var = v1 v2 / (v1 + v2),
    mean = (v2 m1 + v1 m2) / (v1 + v2). The dropped scale factor equals ``gaussian_mls``.

    Shapes: as ``gaussian_mls``; returns (mean (..., D), log_var (..., D | 1)).
    """
    log_s = torch.logaddexp(log_var1, log_var2)
    w1 = torch.exp(log_var2 - log_s)  # weight of mean1
    w2 = torch.exp(log_var1 - log_s)
    return w1 * mean1 + w2 * mean2, log_var1 + log_var2 - log_s


def gaussian_confidence(log_var: torch.Tensor) -> torch.Tensor:
    """Confidence = -mean_d log var_d. Shape (..., D | 1) -> (...)."""
    return -log_var.mean(-1)


def gaussian_sample(mean: torch.Tensor, log_var: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """One reparametrised draw mean + exp(log_var / 2) * eps per row. Shapes (..., D), (..., D | 1) -> (..., D)."""
    shape = torch.broadcast_shapes(mean.shape, log_var.shape)
    eps = torch.randn(shape, dtype=mean.dtype, device=mean.device, generator=generator)
    return mean + torch.exp(0.5 * log_var) * eps
