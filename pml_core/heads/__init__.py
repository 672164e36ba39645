"""Classifier heads: distribution parameters (B, P) -> logits (B, C) (REFERENCE.md 2).

``HEADS`` maps config names (``classifier_type``) to classes; each class carries ``DEFAULTS`` and is
built as ``cls(distribution, num_classes, priors=None, **params)``; ``forward(params, labels=None,
scorer=None) -> logits``. The class matrix is the attribute ``weight`` (checkpoint ``_classifier.weight``).
"""

from __future__ import annotations

from ..config import check_params
from ..registry import lookup
from .linear import LinearHead
from .margin import ArcFaceHead, CosFaceHead

HEADS = {
    "linear": LinearHead,
    "arcface": ArcFaceHead,
    "cosface": CosFaceHead,
}


def create_head(name: str, distribution, num_classes: int, params: dict | None = None, priors=None):
    """Build head ``name``; params are checked against its DEFAULTS."""
    cls = lookup("classifier", HEADS, name)
    checked = check_params("classifier", name, params, cls.DEFAULTS, "model_params.classifier_params")
    return cls(distribution, num_classes, priors=priors, **checked)


__all__ = ["HEADS", "create_head", "LinearHead", "ArcFaceHead", "CosFaceHead"]
