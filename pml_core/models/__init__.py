"""Embedders: backbone -> pooling -> head (+ extra head) -> normaliser = distribution parameters.

``EMBEDDERS`` maps config names (``embedder_type``) to classes; each class carries ``DEFAULTS`` (the
valid ``embedder_params`` and their defaults) and is built as ``cls(out_features, normalizer, **params)``.
"""

from __future__ import annotations

from torch import nn

from ..config import check_params
from ..registry import lookup
from .backbones import BACKBONES, make_stem
from .cnn import CNNEmbedder
from .identity import IdentityEmbedder
from .pooling import MultiPool2d, PowerPool2d, make_pooling

EMBEDDERS = {"cnn": CNNEmbedder, "identity": IdentityEmbedder}


def create_embedder(name: str, out_features: int, normalizer: nn.Module | None = None, params: dict | None = None) -> nn.Module:
    """Build embedder ``name`` producing ``out_features`` parameters; params are checked against its DEFAULTS."""
    cls = lookup("embedder", EMBEDDERS, name)
    checked = check_params("embedder", name, params, cls.DEFAULTS, "model_params.embedder_params")
    return cls(out_features, normalizer, **checked)


__all__ = [
    "BACKBONES",
    "EMBEDDERS",
    "CNNEmbedder",
    "IdentityEmbedder",
    "MultiPool2d",
    "PowerPool2d",
    "create_embedder",
    "make_pooling",
    "make_stem",
]
