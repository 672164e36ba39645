"""Pair and proxy losses on score matrices (docs/reference.md §4.5 - 4.8). Vectorised, no loops over anchors."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _log1p_sum_exp(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """log(1 + sum_{mask} exp(values)) along the last axis: (..., N) -> (...)."""
    masked = torch.where(mask, values, torch.full_like(values, -torch.inf))
    zeros = torch.zeros_like(values[..., :1])
    return torch.logsumexp(torch.cat([zeros, masked], dim=-1), dim=-1)


def multi_similarity_per_anchor(scores: torch.Tensor, labels: torch.Tensor, threshold: float = 0.5, margin: float = 0.1,
                                positive_scale: float = 2.0, negative_scale: float = 40.0) -> torch.Tensor:
    """Multi-similarity loss per anchor with hard-pair mining (Wang et al. 2019): scores (B, B) -> (B,).

    Positives exclude the anchor itself. Anchors without positives or negatives, or whose mined positive or
    negative set is empty, get 0.
    """
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(len(labels), dtype=torch.bool, device=scores.device)
    pos = same & ~eye
    neg = ~same
    inf = torch.tensor(torch.inf, dtype=scores.dtype, device=scores.device)
    min_pos = torch.where(pos, scores, inf).amin(dim=1, keepdim=True)
    max_neg = torch.where(neg, scores, -inf).amax(dim=1, keepdim=True)
    mined_neg = neg & (scores + margin > min_pos)
    mined_pos = pos & (scores - margin < max_neg)
    valid = mined_pos.any(1) & mined_neg.any(1)  # implies positives and negatives exist
    pos_term = _log1p_sum_exp(-positive_scale * (scores - threshold), mined_pos) / positive_scale
    neg_term = _log1p_sum_exp(negative_scale * (scores - threshold), mined_neg) / negative_scale
    return torch.where(valid, pos_term + neg_term, torch.zeros_like(pos_term))


def multi_similarity(scores: torch.Tensor, labels: torch.Tensor, **params) -> torch.Tensor:
    """Mean of `multi_similarity_per_anchor` over all anchors (zeros included)."""
    return multi_similarity_per_anchor(scores, labels, **params).mean()


def proxy_nca_per_sample(distances: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Proxy-NCA with the positive proxy excluded from the denominator: distances (B, C) -> (B,).

    loss_b = LSE_{c != y_b}(d_{b,y_b} - d_bc)  (= PML ProxyNCALoss + log(1 - p_y), docs/reference.md App. C).
    """
    target = F.one_hot(labels.long(), distances.shape[-1]).bool()
    d_pos = distances.gather(-1, labels.long()[:, None])
    return torch.logsumexp(torch.where(target, -torch.inf, d_pos - distances), dim=-1)


def proxy_nca(distances: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return proxy_nca_per_sample(distances, labels).mean()


def pfe(logmls: torch.Tensor, labels: torch.Tensor, match_self: bool = True) -> torch.Tensor:
    """PFE loss: -mean of the (B, B) log-MLS matrix over same-label pairs (diagonal included iff match_self)."""
    mask = labels[:, None] == labels[None, :]
    if not match_self:
        mask = mask & ~torch.eye(len(labels), dtype=torch.bool, device=logmls.device)
    if not mask.any():
        return logmls.sum() * 0
    return -logmls[mask].mean()


def hib(probabilities: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """HIB soft contrastive loss on match probabilities (B, B): 0.5 (BCE(p+, 1) + BCE(p-, 0)).

    Positives are same-label pairs including i = j; log clamped at -100 (PyTorch BCE).
    """
    return hib_from_logs(torch.log(probabilities), torch.log1p(-probabilities), labels)


def hib_from_logs(log_p: torch.Tensor, log_q: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """`hib` from log p and log(1 - p) (B, B) (`functional.scoring.hib_log_match_probability`), logs clamped
    at -100 as PyTorch's BCE; finite gradients where p rounds to 0 or 1."""
    same = labels[:, None] == labels[None, :]
    log_p = log_p.clamp(min=-100)
    log_q = log_q.clamp(min=-100)
    pos = -log_p[same].mean()
    neg = -log_q[~same].mean() if (~same).any() else log_q.sum() * 0
    return 0.5 * (pos + neg)
