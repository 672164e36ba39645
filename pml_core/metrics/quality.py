"""Quality metric: Spearman correlation between quality labels and confidences (docs/reference.md §6.4)."""

from __future__ import annotations

import math

import numpy as np

from ..errors import DataError

__all__ = ["rankdata", "spearman", "quality_scc"]


def _np(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64).reshape(-1)


def rankdata(x) -> np.ndarray:
    """Ranks 1..n with ties given their average rank. ``(n,)``."""
    x = _np(x)
    order = np.argsort(x, kind="stable")
    xs = x[order]
    starts = np.r_[True, xs[1:] != xs[:-1]]
    group = np.cumsum(starts) - 1
    first = np.nonzero(starts)[0]
    last = np.r_[first[1:], x.size] - 1
    avg = (first + last) / 2.0 + 1.0
    ranks = np.empty(x.size)
    ranks[order] = avg[group]
    return ranks


def spearman(a, b) -> float:
    """Spearman rank correlation (Pearson correlation of average ranks); NaN if either is constant."""
    ra, rb = rankdata(a), rankdata(b)
    if ra.size != rb.size:
        raise DataError(f"spearman needs equal lengths, got {ra.size} and {rb.size}.")
    ra, rb = ra - ra.mean(), rb - rb.mean()
    den = math.sqrt(float((ra * ra).sum() * (rb * rb).sum()))
    return float((ra * rb).sum() / den) if den > 0 else math.nan


def quality_scc(quality, confidences) -> float:
    """``quality_scc``: Spearman correlation between per-sample quality labels and confidences."""
    return spearman(quality, confidences)
