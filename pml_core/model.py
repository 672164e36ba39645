"""The model: embedder -> distribution parameters -> classifier logits (docs/reference.md §5.1).

``build_model(model_params, num_classes, priors)`` builds it from the config; ``Model.forward(images,
labels=None) -> ModelOutput(params (B, P), logits (B, C) or None)``. The classifier runs in float32 with
autocast off (docs/reference.md §2), and sees labels only when they are given (training), so margins apply only then.
Parameter prefixes: ``_embedder._stem.``, ``_embedder._head.``, ``_embedder._extra_head.``,
``_embedder._normalizer.``, ``_embedder._output_scale``, ``_classifier.``, ``_scorer.`` (docs/reference.md §9.3).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from .config import ModelParams
from .errors import ConfigError


class ModelOutput(NamedTuple):
    params: torch.Tensor  # (B, P) distribution parameters
    logits: torch.Tensor | None  # (B, C) classifier logits, None without a classifier


class Model(nn.Module):
    def __init__(self, distribution, embedder: nn.Module, scorer: nn.Module, classifier: nn.Module | None = None,
                 freeze_classifier: bool = False):
        super().__init__()
        self.distribution = distribution
        self._embedder = embedder
        self._scorer = scorer
        self._classifier = classifier
        self._freeze_classifier = bool(freeze_classifier and classifier is not None)
        if self._freeze_classifier:
            for parameter in classifier.parameters():
                parameter.requires_grad_(False)

    @property
    def embedder(self) -> nn.Module:
        return self._embedder

    @property
    def classifier(self) -> nn.Module | None:
        return self._classifier

    @property
    def scorer(self) -> nn.Module:
        return self._scorer

    @property
    def num_parameters(self) -> int:
        """P, the length of the flat distribution-parameter vector."""
        return self.distribution.num_parameters

    def train(self, mode: bool = True) -> "Model":
        super().train(mode)
        if self._freeze_classifier:
            self._classifier.eval()
        return self

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """(B, ...) -> (B, P) float32 distribution parameters."""
        return self._embedder(images).float()

    def classify(self, params: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor | None:
        """(B, P) -> (B, C) logits in float32 (autocast off), None without a classifier."""
        if self._classifier is None:
            return None
        with torch.autocast(device_type=params.device.type, enabled=False):
            return self._classifier(params.float(), labels, self._scorer)

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> ModelOutput:
        params = self.embed(images)
        return ModelOutput(params, self.classify(params, labels))

    def score(self, params1: torch.Tensor, params2: torch.Tensor) -> torch.Tensor:
        """Similarity of two broadcastable parameter batches (..., P) -> (...)."""
        return self._scorer(params1, params2)


def build_model(model_params: ModelParams, num_classes: int, priors=None) -> Model:
    """Build the model of ``model_params`` for ``num_classes`` training classes.

    ``priors`` (C,) are the class frequencies of the training set (used by ``loglike`` priors).
    Unknown component names and params raise ConfigError.
    """
    from .distributions import create_distribution
    from .heads import create_head
    from .models import create_embedder
    from .scorers import create_scorer

    if not isinstance(model_params, ModelParams):
        raise ConfigError(f"build_model expects ModelParams, got {type(model_params).__name__}")
    distribution = create_distribution(model_params.distribution_type, model_params.distribution_params)
    normalizer = distribution.make_normalizer()
    embedder = create_embedder(model_params.embedder_type, distribution.num_parameters, normalizer,
                               model_params.embedder_params)
    scorer = create_scorer(model_params.scorer_type, distribution, model_params.scorer_params)
    classifier = None
    if model_params.classifier_type is not None:
        if num_classes < 1:
            raise ConfigError(f"classifier {model_params.classifier_type!r} needs at least one training class")
        classifier = create_head(model_params.classifier_type, distribution, num_classes,
                                 model_params.classifier_params, priors=priors)
    elif model_params.freeze_classifier:
        raise ConfigError("model_params.freeze_classifier is set but classifier_type is null")
    return Model(distribution, embedder, scorer, classifier, model_params.freeze_classifier)
