"""Stochastic Prototype Embeddings math (Scott et al. 2019; docs/reference.md §2.6), vectorised.

Variances have a last axis of 1 (isotropic) or D (diagonal). Two denominators:
``"reference"`` (the reference implementation: each class c' evaluated at its own product sample, one
denominator shared by all classes; the paper's reported numbers use it) and ``"paper"`` (the paper's
estimator: every class evaluated at the same sample z ~ Pi_{q,c}).
"""

from __future__ import annotations

import math

import torch

from ..errors import ConfigError

_LOG_2PI = math.log(2 * math.pi)
ABSENT_LOGIT = -100.0
DENOMINATORS = ("paper", "reference")


def group_by_label(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sorted present labels (L,) and the index table (n, L): row j holds the j-th occurrence of each label.

    Requires exactly balanced classes (ConfigError otherwise). labels [0,0,2,2] -> [0,2], [[0,2],[1,3]].
    """
    values, inverse, counts = torch.unique(labels, sorted=True, return_inverse=True, return_counts=True)
    size = labels.shape[0]
    num_labels = values.shape[0]
    if size % num_labels != 0 or bool((counts != size // num_labels).any()):
        raise ConfigError("the SPE classifier needs class-balanced batches (same number of samples per class): "
                          "set dataset_params.samples_per_class")
    order = torch.argsort(inverse * size + torch.arange(size, device=labels.device))
    return values, order.view(num_labels, size // num_labels).t()


def _logdet(var: torch.Tensor, dim: int) -> torch.Tensor:
    log = torch.log(var)
    return dim * log.squeeze(-1) if var.shape[-1] == 1 else log.sum(-1)


def gaussian_logpdf(x: torch.Tensor, mean: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
    """log N(x; mean, diag var) with broadcasting; var (..., 1) or (..., D) -> (...)."""
    dim = x.shape[-1]
    return -0.5 * (dim * _LOG_2PI + _logdet(var, dim) + ((x - mean).square() / var).sum(-1))


def pairwise_gaussian_logpdf(x: torch.Tensor, mean: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
    """log N(x_i; mean_j, diag var_j) for every point and every Gaussian, through matrix products.

    x (..., D), mean (L, D), var (L, 1) or (L, D) -> (..., L); never builds a (..., L, D) tensor.
    """
    dim = x.shape[-1]
    inv = (1.0 / var).expand(mean.shape)  # (L, D)
    quadratic = x.square() @ inv.T - 2 * x @ (mean * inv).T + (mean.square() * inv).sum(-1)
    return -0.5 * (dim * _LOG_2PI + _logdet(var, dim) + quadratic)


def prototypes(mu: torch.Tensor, var: torch.Tensor, epsilon) -> tuple[torch.Tensor, torch.Tensor]:
    """Precision-weighted prototypes of support samples along axis 0: mu (S, L, D), var (S, L, V) -> (L, D), (L, V).

    u = var + eps; V = 1 / sum 1/u; M = V sum mu/u; prototype variance = V + eps.
    """
    u = var + epsilon
    proto_var = 1.0 / (1.0 / u).sum(0)
    proto_mean = proto_var * (mu / u).sum(0)
    return proto_mean, proto_var + epsilon


def spe_query_logits(mu: torch.Tensor, var: torch.Tensor, proto_mean: torch.Tensor, proto_var: torch.Tensor,
                     samples: torch.Tensor | None = None, denominator: str = "paper") -> torch.Tensor:
    """Logits of queries against prototypes: mu (Q, D), var (Q, V), proto (L, D), (L, V) -> (Q, L).

    ``samples``: standard normal noise (S, Q, L, D) for the product-density samples, or None for its mean.
    """
    if denominator not in DENOMINATORS:
        from ..errors import unknown_name_error

        raise unknown_name_error("SPE denominator", denominator, DENOMINATORS)
    q_mu, q_var = mu[:, None, :], var[:, None, :]  # (Q, 1, .)
    total = q_var + proto_var  # (Q, L, V)
    mls = gaussian_logpdf(q_mu, proto_mean, total)  # (Q, L)
    prod_mean = (proto_var * q_mu + q_var * proto_mean) / total  # (Q, L, D)
    prod_var = q_var * proto_var / total
    if samples is None:
        z = prod_mean[None]  # (1, Q, L, D)
    else:
        z = prod_mean + prod_var.sqrt() * samples  # (S, Q, L, D)
    num_samples = z.shape[0]
    if denominator == "reference":
        dens = gaussian_logpdf(z, proto_mean, proto_var)  # (S, Q, L): class c' at its own sample
        log_inv = -torch.logsumexp(dens, dim=-1)  # (S, Q)
        log_mean_inv = torch.logsumexp(log_inv, dim=0) - math.log(num_samples)  # (Q,)
        return mls + log_mean_inv[:, None]
    dens = pairwise_gaussian_logpdf(z, proto_mean, proto_var)  # (S, Q, L, L'): every class at z_{q,c}
    log_inv = -torch.logsumexp(dens, dim=-1)  # (S, Q, L)
    return mls + torch.logsumexp(log_inv, dim=0) - math.log(num_samples)


def spe_logits(mu: torch.Tensor, var: torch.Tensor, labels: torch.Tensor, num_classes: int, epsilon=0.0,
               sample_size: int = 0, denominator: str = "paper", generator: torch.Generator | None = None) -> torch.Tensor:
    """SPE training logits (B, C): queries of half A use prototypes of half B and vice versa; absent classes -100.

    mu (B, D), var (B, V), labels (B,) class-balanced with at least 2 samples per class.
    """
    values, index = group_by_label(labels)  # (L,), (n, L)
    n = index.shape[0]
    if n < 2:
        raise ConfigError("the SPE classifier needs at least 2 samples per class in a batch")
    k = n // 2
    halves = (index[:k], index[k:])
    out = torch.full((labels.shape[0], num_classes), ABSENT_LOGIT, dtype=mu.dtype, device=mu.device)
    for query, support in ((halves[0], halves[1]), (halves[1], halves[0])):
        proto_mean, proto_var = prototypes(mu[support], var[support], epsilon)
        q_idx = query.reshape(-1)
        noise = None
        if sample_size > 0:
            noise = torch.randn((sample_size, q_idx.shape[0], values.shape[0], mu.shape[-1]), dtype=mu.dtype,
                                device=mu.device, generator=generator)
        logits = spe_query_logits(mu[q_idx], var[q_idx], proto_mean, proto_var, noise, denominator)
        out[q_idx[:, None], values[None, :]] = logits
    return out
