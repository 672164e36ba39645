"""Losses on classifier logits (docs/reference.md §4.1, §4.2, §4.4).

All take logits (B, C) and integer labels (B,) and return a scalar (mean over the batch unless stated).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def cross_entropy(logits: torch.Tensor, labels: torch.Tensor, smoothing: float = 0.0) -> torch.Tensor:
    """Softmax cross-entropy, mean over the batch, optional label smoothing."""
    return F.cross_entropy(logits, labels.long(), label_smoothing=smoothing)


def nll(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Negative log-likelihood on logits taken as log-probabilities: mean_b -logits[b, y_b]."""
    return -logits.gather(-1, labels.long()[:, None]).squeeze(-1).mean()


def hinge(logits: torch.Tensor, labels: torch.Tensor, margin: float = 1.0) -> torch.Tensor:
    """mean over (b, c != y_b) of max(0, margin - Z_{b,y_b} + Z_bc)."""
    target = logits.gather(-1, labels.long()[:, None])
    losses = (margin - target + logits).clamp(min=0)
    mask = ~F.one_hot(labels.long(), logits.shape[-1]).bool()
    return losses[mask].mean()


def proxy_anchor(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Proxy-Anchor loss on a logit matrix Z (B, C) (usually symmetric CosFace logits: alpha = s, delta = m/2).

    pos = mean_{c with positives} softplus(LSE_{b: y_b = c}(-Z_bc)); neg = mean_{c with negatives}
    softplus(LSE_{b: y_b != c}(Z_bc)); loss = pos + neg.
    """
    positive = F.one_hot(labels.long(), logits.shape[-1]).bool()  # (B, C)
    negative = ~positive
    neg_inf = torch.finfo(logits.dtype).min
    pos_lse = torch.logsumexp(torch.where(positive, -logits, neg_inf), dim=0)  # (C,)
    neg_lse = torch.logsumexp(torch.where(negative, logits, neg_inf), dim=0)
    has_pos = positive.any(0)
    has_neg = negative.any(0)
    pos = F.softplus(pos_lse[has_pos]).mean() if has_pos.any() else logits.new_zeros(())
    neg = F.softplus(neg_lse[has_neg]).mean() if has_neg.any() else logits.new_zeros(())
    return pos + neg
