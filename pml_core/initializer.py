"""Model initialisation at the start of training stage 0 (docs/reference.md §5.4).

* ``matrix_initializer``: re-initialise every 2-D parameter (normal, xavier_uniform, xavier_normal,
  kaiming_normal, kaiming_normal_fanout).
* vMF-loss classifier: ``output_scale = l/(1-l^2) (D-1)/sqrt(D) / mean|r|`` with r the raw main-head outputs
  of the first ``num_statistics_batches`` training batches (model in train mode, no gradient), so that the
  predicted concentrations start on the scale of the class targets.
* HIB scorer: ``scale a = 1 / mean|mu|`` over the same batches (the reference), then, with
  ``hib_bias: median`` (kit default), ``bias b = a * median |z_i - z_j|`` over the scorer's samples of every
  pair of different images in those batches, so that a typical pair starts at match probability 1/2;
  ``hib_bias: zero`` keeps the reference's b = 0, where ``a |z_i - z_j|`` is about sqrt(2 D) and every
  probability starts near sigmoid(-sqrt(2 D)) (1e-7 at D = 128): the loss saturates (docs/deviations.md).
"""

from __future__ import annotations

import itertools
import math
from typing import Iterable

import torch
from torch import nn

from .config import InitializerParams
from .errors import ConfigError

MATRIX_INITIALIZERS = {
    "normal": lambda w: nn.init.normal_(w),
    "xavier_uniform": lambda w: nn.init.xavier_uniform_(w),
    "xavier_normal": lambda w: nn.init.xavier_normal_(w),
    "kaiming_normal": lambda w: nn.init.kaiming_normal_(w),
    "kaiming_normal_fanout": lambda w: nn.init.kaiming_normal_(w, mode="fan_out"),
}


def _device(model: nn.Module) -> torch.device:
    for parameter in model.parameters():
        return parameter.device
    return torch.device("cpu")


def _images(batch):
    return batch[0] if isinstance(batch, (tuple, list)) else batch


@torch.no_grad()
def _statistics(model, batches: Iterable, count: int, fn) -> float:
    """Mean of ``fn(images)`` (a tensor of values) over the first ``count`` batches, model in train mode."""
    was_training = model.training
    model.train()
    device = _device(model)
    total, n = 0.0, 0
    for batch in itertools.islice(batches, count):
        values = fn(_images(batch).to(device))
        total += float(values.sum())
        n += values.numel()
    model.train(was_training)
    if n == 0:
        raise ConfigError("the initializer needs at least one training batch for its statistics")
    return total / n


def initialize_model(model, initializer_params: InitializerParams, train_batches: Iterable) -> None:
    """Initialise ``model`` in place (stage 0 only). ``train_batches`` yields (images, labels) batches."""
    p = initializer_params
    if p.matrix_initializer is not None:
        init = MATRIX_INITIALIZERS.get(p.matrix_initializer)
        if init is None:
            from .registry import lookup

            lookup("matrix_initializer", MATRIX_INITIALIZERS, p.matrix_initializer)
        with torch.no_grad():
            for parameter in model.parameters():
                if parameter.dim() == 2:
                    init(parameter)

    classifier = getattr(model, "_classifier", None)
    scorer = getattr(model, "_scorer", None)
    needs_vmf = classifier is not None and type(classifier).__name__ == "VMFLossHead"
    needs_hib = scorer is not None and type(scorer).__name__ == "HIBScorer"
    if not (needs_vmf or needs_hib):
        return
    batches = iter(train_batches)
    count = p.num_statistics_batches
    if needs_vmf:
        embedder = model._embedder
        if not hasattr(embedder, "head_outputs"):
            raise ConfigError("the vMF-loss initialisation needs the 'cnn' embedder (it rescales output_scale)")
        embedder._output_scale.fill_(1.0)
        mean_abs = _statistics(model, batches, count, lambda images: embedder.head_outputs(images)[0].abs())
        l = float(classifier.params["kappa_confidence"])
        dim = model.distribution.dim
        embedder._output_scale.fill_(l / (1 - l * l) * (dim - 1) / math.sqrt(dim) / max(mean_abs, 1e-12))
    if needs_hib:
        used = list(itertools.islice(batches, count))
        mean_abs = _statistics(model, used, count, lambda images: model.distribution.mean(model.embed(images)).abs())
        scale = 1.0 / max(mean_abs, 1e-12)
        scorer.set_scale(scale)
        if p.hib_bias == "median":
            scorer.set_bias(scale * hib_median_distance(model, used))
        else:
            scorer.set_bias(0.0)


@torch.no_grad()
def hib_median_distance(model, batches: Iterable) -> float:
    """Median Euclidean distance between the HIB scorer's samples of two different images of a batch.

    For every batch: params (B, P) -> samples (B, K, D) -> distances of the K x K sample pairs of every
    pair of images i != j of the batch; the median over all batches (model in train mode, as in training).
    """
    was_training = model.training
    model.train()
    device = _device(model)
    scorer = model._scorer
    distances = []
    for batch in batches:
        params = model.embed(_images(batch).to(device))
        samples = model.distribution.sample(params, (params.shape[0], scorer.num_samples))  # (B, K, D)
        flat = samples.reshape(-1, samples.shape[-1])
        pair = torch.cdist(flat, flat).reshape(*samples.shape[:2], *samples.shape[:2])  # (B, K, B, K)
        different = ~torch.eye(samples.shape[0], dtype=torch.bool, device=device)
        distances.append(pair.permute(0, 2, 1, 3)[different].flatten())
    model.train(was_training)
    if not distances:
        raise ConfigError("the HIB initialisation needs at least one training batch")
    return float(torch.cat(distances).median())
