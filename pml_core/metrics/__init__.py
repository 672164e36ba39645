"""Metrics engine: exact batched kNN, retrieval, ERC, filter-out, verification and quality metrics.

Functions of tensors; they know nothing of models or training loops. See ``docs/metrics.md``.
"""

from .knn import DEFAULT_MEMORY_BUDGET, isotropic_gaussian_mls, knn, knn_per_part, pairwise_from_scorer, rerank
from .quality import quality_scc, spearman
from .retrieval import (
    ALL_METRICS,
    confidence_accuracy,
    erc,
    erc_curve,
    filter_out_curves,
    filter_out_fractions,
    retrieval_erc_curves,
    retrieval_metrics,
)
from .verification import verification_metrics

__all__ = [
    "ALL_METRICS",
    "DEFAULT_MEMORY_BUDGET",
    "confidence_accuracy",
    "erc",
    "erc_curve",
    "filter_out_curves",
    "filter_out_fractions",
    "isotropic_gaussian_mls",
    "knn",
    "knn_per_part",
    "pairwise_from_scorer",
    "quality_scc",
    "rerank",
    "retrieval_erc_curves",
    "retrieval_metrics",
    "spearman",
    "verification_metrics",
]
