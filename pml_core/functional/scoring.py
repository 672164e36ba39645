"""Similarity scores between embeddings (docs/reference.md §3). Pure functions, leading axes broadcast."""

from __future__ import annotations

import math

import torch
from torch.nn import functional as TF

from .vmf import normalize

__all__ = ["dot_score", "cosine_score", "neg_squared_l2", "sampled_expected_cosine", "hib_match_probability",
           "hib_log_match_probability"]


def dot_score(x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
    """<x1, x2>. (..., D), (..., D) -> (...)."""
    return (x1 * x2).sum(-1)


def cosine_score(x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
    """<norm(x1), norm(x2)>. (..., D), (..., D) -> (...)."""
    return (normalize(x1) * normalize(x2)).sum(-1)


def neg_squared_l2(x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
    """-|x1 - x2|^2. (..., D), (..., D) -> (...)."""
    return -((x1 - x2) ** 2).sum(-1)


def sampled_expected_cosine(samples1: torch.Tensor, samples2: torch.Tensor) -> torch.Tensor:
    """Mean over all K x L pairs of cosines of samples = <mean_k norm(s1_k), mean_l norm(s2_l)>.

    samples1 (..., K, D), samples2 (..., L, D) -> (...).
    """
    return (normalize(samples1).mean(-2) * normalize(samples2).mean(-2)).sum(-1)


def _hib_logits(samples1: torch.Tensor, samples2: torch.Tensor, scale, bias) -> torch.Tensor:
    """-scale |s1_k - s2_l| + bias for every sample pair: (..., K, D), (..., L, D) -> (..., K, L)."""
    sq = (
        samples1.square().sum(-1).unsqueeze(-1)
        + samples2.square().sum(-1).unsqueeze(-2)
        - 2 * samples1 @ samples2.transpose(-1, -2)
    )
    return -scale * torch.sqrt(torch.clamp(sq, min=0)) + bias


def hib_match_probability(samples1: torch.Tensor, samples2: torch.Tensor, scale, bias) -> torch.Tensor:
    """HIB match probability mean_{k,l} sigmoid(-scale |s1_k - s2_l| + bias) (Euclidean, not squared).

    The squared distance |a|^2 + |b|^2 - 2<a, b> is clamped at 0 before the square root (the reference
    does not clamp and can produce NaN, docs/reference.md §12.9). samples1 (..., K, D), samples2 (..., L, D) -> (...).
    """
    return torch.sigmoid(_hib_logits(samples1, samples2, scale, bias)).mean(dim=(-2, -1))


def hib_log_match_probability(samples1: torch.Tensor, samples2: torch.Tensor, scale, bias
                              ) -> tuple[torch.Tensor, torch.Tensor]:
    """(log p, log(1 - p)) of `hib_match_probability`, each a log-mean-exp of log sigmoid(+-logit) over the
    K x L sample pairs: exact where p or 1 - p rounds to 0 or 1 in float32 (log(1 - p) of a close pair at a
    large bias), where the logarithm of the probability would be -inf and its gradient NaN. Shapes as there.
    """
    logits = _hib_logits(samples1, samples2, scale, bias).flatten(-2)
    count = math.log(logits.shape[-1])
    return (torch.logsumexp(TF.logsigmoid(logits), -1) - count,
            torch.logsumexp(TF.logsigmoid(-logits), -1) - count)
