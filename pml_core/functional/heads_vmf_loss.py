"""vMF-loss math (Scott et al., ICCV 2021; docs/reference.md §2.5) on given unit samples.

Samples are inputs here (the head draws them), which makes every function deterministic.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .bessel import vmf_log_normalizer, vmf_log_normalizer_approx


def _logc(dim: int, kappa: torch.Tensor, approximate: bool) -> torch.Tensor:
    return vmf_log_normalizer_approx(dim, kappa) if approximate else vmf_log_normalizer(dim, kappa)


def vmf_loss_probabilistic_logits(mean_x: torch.Tensor, samples: torch.Tensor, target_mu: torch.Tensor,
                                  target_kappa: torch.Tensor, target_mean: torch.Tensor, scale, approximate_logc: bool = True,
                                  exact_scale_normalizer: bool = False) -> torch.Tensor:
    """Training "logits" (B, C) of the vMF-loss: entry c = -loss_b if y_b were c (see `vmf_loss_probabilistic`).

    The target column is exactly -loss_b (NLL = loss); the other columns are the same log-likelihood estimate
    for the other classes (the reference leaves them uninitialised, docs/reference.md §2.5).
    """
    dim = mean_x.shape[-1]
    z = F.normalize(samples, dim=-1)
    w = F.normalize(target_mu, dim=-1)
    t = torch.as_tensor(scale, dtype=mean_x.dtype, device=mean_x.device)
    dots = z @ w.t()  # (B, K, C)
    kc = target_kappa.to(mean_x.dtype)
    norm = torch.sqrt((t * t + kc * kc + 2 * t * kc * dots).clamp(min=0))
    mls = _logc(dim, t, approximate_logc) + _logc(dim, kc, approximate_logc) - _logc(dim, norm, approximate_logc)
    scale_term = vmf_log_normalizer(dim, t) if exact_scale_normalizer else _logc(dim, t, approximate_logc)
    den = (torch.logsumexp(mls, dim=-1) - scale_term).mean(-1, keepdim=True)  # (B, 1)
    num = t * (mean_x @ target_mean.t())  # (B, C)
    return num - den


def vmf_loss_deterministic_logits(mean_x: torch.Tensor, samples: torch.Tensor, targets: torch.Tensor, scale) -> torch.Tensor:
    """Training "logits" (B, C) with deterministic targets: t <mean_x_b, n_c> - mean_k LSE_c' t <n_c', z_bk>."""
    z = F.normalize(samples, dim=-1)
    n = F.normalize(targets, dim=-1)
    den = torch.logsumexp(scale * (z @ n.t()), dim=-1).mean(-1, keepdim=True)
    return scale * (mean_x @ n.t()) - den


def vmf_loss_probabilistic(mean_x: torch.Tensor, samples: torch.Tensor, target_mu: torch.Tensor, target_kappa: torch.Tensor,
                           target_mean: torch.Tensor, labels: torch.Tensor, scale, approximate_logc: bool = True,
                           exact_scale_normalizer: bool = False) -> torch.Tensor:
    """Per-example vMF-loss with probabilistic class targets: (B,).

    mean_x (B, D) = A_D(k_b) mu_b; samples (B, K, D) (normalised here); target_mu (C, D) (normalised here);
    target_kappa (C,); target_mean (C, D) = A_D(k_c) w_c; scale t (scalar or 0-d tensor).
    mls_bkc = F(t) + F(k_c) - F(||t z_bk + k_c w_c||); loss_b = mean_k [LSE_c mls_bkc - G(t)] - t <mean_x_b, target_mean_y>.
    F is the approximate normaliser if ``approximate_logc`` else the exact one. G = F (intended: the scale
    terms cancel) unless ``exact_scale_normalizer`` (the reference: G = exact log C_D whatever F is).
    """
    logits = vmf_loss_probabilistic_logits(mean_x, samples, target_mu, target_kappa, target_mean, scale,
                                           approximate_logc, exact_scale_normalizer)
    return -logits.gather(-1, labels.long()[:, None]).squeeze(-1)


def vmf_loss_deterministic(mean_x: torch.Tensor, samples: torch.Tensor, targets: torch.Tensor, labels: torch.Tensor,
                           scale) -> torch.Tensor:
    """Per-example vMF-loss with deterministic targets n_c = norm(W_c): (B,).

    loss_b = mean_k LSE_c(t <n_c, z_bk>) - t <mean_x_b, n_{y_b}>  (samples z normalised here).
    """
    logits = vmf_loss_deterministic_logits(mean_x, samples, targets, scale)
    return -logits.gather(-1, labels.long()[:, None]).squeeze(-1)


def vmf_loss_inference_deterministic(samples: torch.Tensor, targets: torch.Tensor, scale) -> torch.Tensor:
    """log mean_k softmax_c(t <z_bk, n_c>): samples (B, K, D), targets (C, D) -> (B, C)."""
    z = F.normalize(samples, dim=-1)
    n = F.normalize(targets, dim=-1)
    log_probs = torch.log_softmax(scale * (z @ n.t()), dim=-1)  # (B, K, C)
    return torch.logsumexp(log_probs, dim=1) - torch.log(torch.tensor(float(z.shape[1]), dtype=z.dtype, device=z.device))


def vmf_loss_inference_probabilistic(samples: torch.Tensor, target_samples: torch.Tensor, scale) -> torch.Tensor:
    """log mean_{k,i} softmax_c(t <z_bk, r_ci>): samples (B, K, D), target_samples (C, K', D) -> (B, C)."""
    z = F.normalize(samples, dim=-1)
    r = F.normalize(target_samples, dim=-1)
    parts = []
    for i in range(r.shape[1]):  # one class sample at a time: (B, K, C) memory
        parts.append(torch.log_softmax(scale * (z @ r[:, i].t()), dim=-1))
    log_probs = torch.cat(parts, dim=1)  # (B, K * K', C)
    count = z.shape[1] * r.shape[1]
    return torch.logsumexp(log_probs, dim=1) - torch.log(torch.tensor(float(count), dtype=z.dtype, device=z.device))
