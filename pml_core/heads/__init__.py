"""Classifier heads: distribution parameters (B, P) -> logits (B, C) (docs/reference.md §2).

``HEADS`` maps config names (``classifier_type``) to classes; each class carries ``DEFAULTS`` and is
built as ``cls(distribution, num_classes, class_priors=None, **params)`` (class_priors: dataset class frequencies); ``forward(params, labels=None,
scorer=None) -> logits``. The class matrix is the attribute ``weight`` (checkpoint ``_classifier.weight``).
"""

from __future__ import annotations

from ..config import check_params
from ..registry import lookup
from .linear import LinearHead
from .loglike import LogLikeHead
from .margin import ArcFaceHead, CosFaceHead
from .scorer_head import ScorerHead
from .spe import SPEHead
from .vmf_loss import VMFLossHead

HEADS = {
    "linear": LinearHead,
    "arcface": ArcFaceHead,
    "cosface": CosFaceHead,
    "loglike": LogLikeHead,
    "vmf-loss": VMFLossHead,
    "spe": SPEHead,
    "scorer": ScorerHead,
}


def create_head(name: str, distribution, num_classes: int, params: dict | None = None, priors=None):
    """Build head ``name``; params are checked against its DEFAULTS."""
    cls = lookup("classifier", HEADS, name)
    checked = check_params("classifier", name, params, cls.DEFAULTS, "model_params.classifier_params")
    return cls(distribution, num_classes, class_priors=priors, **checked)


__all__ = ["HEADS", "create_head", "LinearHead", "ArcFaceHead", "CosFaceHead", "LogLikeHead", "VMFLossHead", "SPEHead", "ScorerHead"]
