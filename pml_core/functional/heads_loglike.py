"""Log-likelihood classifier math (docs/reference.md §2.4): log-densities of class vectors under predicted
distributions, or of embeddings under per-class distributions, as (B, C) matrices via matmuls.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .bessel import vmf_log_normalizer

_LOG_2PI = math.log(2 * math.pi)


def gaussian_logpdf_matrix(mean: torch.Tensor, var: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """log N(points_c; mean_b, diag(var_b)): mean (B, D), var (B, 1) isotropic or (B, D), points (C, D) -> (B, C).

    Expanded quadratic (no (B, C, D) tensor).
    """
    dim = mean.shape[-1]
    inv = 1.0 / var
    if var.shape[-1] == 1:
        quad = (points.square().sum(-1)[None, :] - 2 * mean @ points.t() + mean.square().sum(-1, keepdim=True)) * inv
        logdet = dim * torch.log(var)
    else:
        quad = inv @ points.square().t() - 2 * (mean * inv) @ points.t() + (mean.square() * inv).sum(-1, keepdim=True)
        logdet = torch.log(var).sum(-1, keepdim=True)
    return -0.5 * dim * _LOG_2PI - 0.5 * logdet - 0.5 * quad


def vmf_logpdf_matrix(mu: torch.Tensor, kappa: torch.Tensor, points: torch.Tensor, rule: str = "exact") -> torch.Tensor:
    """log vMF(norm(points_c); mu_b, kappa_b) = log C_D(k_b) + k_b <norm mu_b, norm points_c>.

    mu (B, D), kappa (B,), points (C, D) -> (B, C).
    """
    dim = mu.shape[-1]
    cos = F.normalize(mu, dim=-1) @ F.normalize(points, dim=-1).t()
    return vmf_log_normalizer(dim, kappa, rule)[:, None] + kappa[:, None] * cos


def predicted_gaussian_logits(mu, var, weight, spherical: bool = True):
    """Gaussian prediction: log N(norm(W_c); m_b, v_b) with m_b = norm(mu_b) if spherical. (B, C)."""
    if spherical:
        mu = F.normalize(mu, dim=-1)
        weight = F.normalize(weight, dim=-1)
    return gaussian_logpdf_matrix(mu, var, weight)


def predicted_vmf_logits(mu, kappa, weight, rule: str = "exact"):
    """vMF prediction: log C_D(k_b) + k_b <mu_b, norm(W_c)>. (B, C)."""
    return vmf_logpdf_matrix(mu, kappa, weight, rule)


def gaussian_target_logits(x, class_mean, class_var, spherical: bool = True):
    """Per-class Gaussian targets (DSML-gmm): log N(x_b; m_c, v_c), normalised x and m_c if spherical. (B, C)."""
    if spherical:
        x = F.normalize(x, dim=-1)
        class_mean = F.normalize(class_mean, dim=-1)
    return gaussian_logpdf_matrix(class_mean, class_var, x).t()


def vmf_target_logits(x, class_mu, class_kappa, rule: str = "exact"):
    """Per-class vMF targets (DSML): log C_D(k_c) + k_c <norm x_b, norm mu_c>. (B, C)."""
    return vmf_logpdf_matrix(class_mu, class_kappa, x, rule).t()


def subtract_margin(logits: torch.Tensor, labels: torch.Tensor | None, margin: float) -> torch.Tensor:
    """logits - margin at the target entries (no-op without labels or with margin 0)."""
    if labels is None or margin == 0:
        return logits
    return logits - margin * F.one_hot(labels.long(), logits.shape[-1]).to(logits.dtype)


def add_log_priors(logits: torch.Tensor, log_priors: torch.Tensor) -> torch.Tensor:
    """logits + (b - LSE(b)) with b (C,) unnormalised log priors."""
    return logits + (log_priors - torch.logsumexp(log_priors, dim=-1))
