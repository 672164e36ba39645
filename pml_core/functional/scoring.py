"""Similarity scores between embeddings (docs/reference.md §3). Pure functions, leading axes broadcast."""

from __future__ import annotations

import torch

from .vmf import normalize

__all__ = ["dot_score", "cosine_score", "neg_squared_l2", "sampled_expected_cosine", "hib_match_probability"]


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


def hib_match_probability(samples1: torch.Tensor, samples2: torch.Tensor, scale, bias) -> torch.Tensor:
    """HIB match probability mean_{k,l} sigmoid(-scale |s1_k - s2_l| + bias) (Euclidean, not squared).

    The squared distance |a|^2 + |b|^2 - 2<a, b> is clamped at 0 before the square root (the reference
    does not clamp and can produce NaN, docs/reference.md §12.9). samples1 (..., K, D), samples2 (..., L, D) -> (...).
    """
    sq = (
        samples1.square().sum(-1).unsqueeze(-1)
        + samples2.square().sum(-1).unsqueeze(-2)
        - 2 * samples1 @ samples2.transpose(-1, -2)
    )
    distance = torch.sqrt(torch.clamp(sq, min=0))
    return torch.sigmoid(-scale * distance + bias).mean(dim=(-2, -1))
