"""Evaluation: embed each set once, then the metrics engine (docs/reference.md §5.3, §6).

Classification sets give the metrics that ``metrics_params.test_classification_metrics`` names
(docs/reference.md §6.1; default ``nearest`` for open-set data, ``accuracy`` for closed-set data):
``nearest`` = retrieval metrics (recall@k, MAP@R, ERC, filter-out curves), ``quality`` =
``quality_scc`` (sets with quality labels, distributions with confidences), ``accuracy`` =
``accuracy01`` of the classifier, ``scores`` = ``positive_scores/mean|std``. Pair sets give
verification metrics on the model scorer's pair scores with pair confidence = min of the two confidences.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from .config import Config
from .errors import ConfigError
from .metrics import quality_scc, retrieval_metrics, verification_metrics
from .metrics.classification import ClassificationAccumulator

# Scorers whose ranking the metrics engine computes exactly from vectors: name -> (vectors, similarity).
VECTOR_SCORERS = {"cosine": ("mean", "cosine"), "dot": ("mean", "dot"), "l2": ("mean", "l2")}


@dataclass
class Embedded:
    """Parameters of a whole set. Pair sets have ``params2``; ``quality`` is (N,) or (N, 2) or None."""

    params: torch.Tensor
    labels: torch.Tensor
    quality: torch.Tensor | None = None
    params2: torch.Tensor | None = None


@torch.no_grad()
def embed(model: torch.nn.Module, dataset, cfg: Config, device: torch.device, *, progress: bool = True,
          desc: str = "embed") -> Embedded:
    """Run the model over a set (eval mode, test transform); parameters gathered on ``device``."""
    from .data import build_eval_loader

    model.eval()
    loader = build_eval_loader(dataset, cfg.dataset_params)
    params, params2, labels, quality = [], [], [], []
    for batch in tqdm(loader, desc=desc, leave=False, disable=not progress):
        images, batch_labels = batch[0], batch[1]
        if dataset.classification:
            params.append(model.embed(images.to(device)).float())
        else:
            flip = cfg.metrics_params.verification_metrics_params.flip_fusion
            params.append(_embed_pair_side(model, images[0].to(device), flip))
            params2.append(_embed_pair_side(model, images[1].to(device), flip))
        labels.append(batch_labels)
        if len(batch) > 2:
            q = batch[2]
            quality.append(torch.stack(list(q), dim=1) if isinstance(q, (list, tuple)) else q)
    return Embedded(torch.cat(params), torch.cat(labels).to(device),
                    torch.cat(quality).to(device).float() if quality else None,
                    torch.cat(params2) if params2 else None)


def pairs_of(items: Embedded, pairs, labels) -> Embedded:
    """The pair set ``pairs`` (N, 2) of an embedded classification set, with pair ``labels`` (N,)."""
    index = torch.as_tensor(pairs, device=items.params.device, dtype=torch.long)
    quality = None if items.quality is None else items.quality[index]
    return Embedded(items.params[index[:, 0]], torch.as_tensor(labels, device=items.params.device), quality,
                    items.params[index[:, 1]])


def _embed_pair_side(model: torch.nn.Module, images: torch.Tensor, flip: bool) -> torch.Tensor:
    """(B, 3, H, W) -> (B, P); with ``flip`` fused with the mirror image (`evaluate_ijb.fuse_views`)."""
    params = model.embed(images).float()
    if not flip:
        return params
    from .evaluate_ijb import fuse_views

    return fuse_views(model.distribution, params, model.embed(torch.flip(images, dims=[-1])).float())


def _pair_scores(scorer: torch.nn.Module, params1: torch.Tensor, params2: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
    return torch.cat([scorer(params1[i:i + chunk], params2[i:i + chunk]) for i in range(0, len(params1), chunk)])


def class_targets(model: torch.nn.Module) -> torch.Tensor | None:
    """The classifier's class matrix ``(C, P)`` when its rows are distribution parameters (the targets of the
    ``scores`` metric, as the reference's ``target_embeddings``), else None."""
    weight = getattr(model.classifier, "weight", None)
    if isinstance(weight, torch.Tensor) and weight.ndim == 2 and weight.shape[1] == model.distribution.num_parameters:
        return weight
    return None


def classification_metric_names(cfg: Config, split: str, dataset, model: torch.nn.Module) -> list[str]:
    """The metrics of a classification set: ``split`` "train" (the train set) or "test" (validation and test
    sets), docs/reference.md §6.1. A metric the set or the model cannot give is a ConfigError naming the key."""
    key = f"metrics_params.{split}_classification_metrics"
    names = getattr(cfg.metrics_params, f"{split}_classification_metrics")
    openset = getattr(dataset, "openset", True)
    if names is None:  # the reference's defaults (accuracy skipped without a classifier, as there)
        names = ([] if split == "train" else ["nearest"]) if openset else ["accuracy"]
        return [name for name in names if name != "accuracy" or model.classifier is not None]
    for name in names:
        if name in ("accuracy", "scores") and model.classifier is None:
            raise ConfigError(f"{key}: {name!r} needs a classifier but model_params.classifier_type is null; "
                              f"remove {name!r}")
        if name in ("accuracy", "scores") and split == "test" and openset:
            raise ConfigError(f"{key}: {name!r} needs closed-set data (evaluation classes = training classes) but "
                              f"dataset {cfg.dataset_params.name!r} is open-set; remove {name!r}")
        if name == "scores" and class_targets(model) is None:
            raise ConfigError(f"{key}: 'scores' needs a classifier whose class matrix holds distribution parameters "
                              f"({model.distribution.num_parameters} columns); classifier "
                              f"{cfg.model_params.classifier_type!r} has {_weight_shape(model)}; remove 'scores'")
    return list(names)


def _weight_shape(model: torch.nn.Module) -> str:
    weight = getattr(model.classifier, "weight", None)
    return f"a ({', '.join(map(str, weight.shape))}) matrix" if isinstance(weight, torch.Tensor) else "no class matrix"


def check_classification_metrics(cfg: Config, datasets, model: torch.nn.Module) -> None:
    """Fail before training when a set of the collection cannot give the configured classification metrics."""
    classification_metric_names(cfg, "train", datasets.train, model)
    for dataset in {**datasets.valid, **datasets.tests}.values():
        if dataset.classification:
            classification_metric_names(cfg, "test", dataset, model)


@torch.no_grad()
def classifier_metrics(model: torch.nn.Module, params: torch.Tensor, labels: torch.Tensor, names: list[str],
                       chunk: int = 4096) -> dict[str, float]:
    """``accuracy01`` / ``positive_scores/*`` of a whole set: params (N, P), labels (N,) (no margins: no labels
    reach the classifier, as at inference)."""
    accuracy, scores = "accuracy" in names, "scores" in names
    if not (accuracy or scores):
        return {}
    accumulator = ClassificationAccumulator(accuracy, scores)
    targets = class_targets(model) if scores else None
    for start in range(0, len(params), chunk):
        part, part_labels = params[start:start + chunk], labels[start:start + chunk]
        logits = model.classify(part) if accuracy else None
        positive = model.score(part, targets[part_labels].to(part.dtype)) if scores else None
        accumulator.update(part_labels, logits=logits, positive_scores=positive)
    return accumulator.compute()


@torch.no_grad()
def set_metrics(model: torch.nn.Module, embedded: Embedded, cfg: Config, *, query_mask=None, gallery_mask=None,
                names: list[str] = ("nearest", "quality")) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Metrics and predictions (means, confidences, labels) of one embedded set; ``names``: the classification
    metrics of a classification set (`classification_metric_names`)."""
    distribution = model.distribution
    scorer_name = cfg.model_params.scorer_type
    nearest = cfg.metrics_params.nearest_params
    params = embedded.params
    confidences = distribution.confidences(params) if distribution.has_confidences else None
    if embedded.params2 is not None:
        scores = _pair_scores(model._scorer, params, embedded.params2)
        pair_conf = None
        if confidences is not None:
            pair_conf = torch.minimum(confidences, distribution.confidences(embedded.params2))
        fpr = cfg.metrics_params.verification_metrics_params.fpr
        metrics = verification_metrics(scores, embedded.labels, pair_conf,
                                       fpr_targets=fpr if isinstance(fpr, list) else [fpr],
                                       num_folds=cfg.metrics_params.verification_metrics_params.num_folds)
        predictions = {"scores": scores.cpu().numpy(), "labels": embedded.labels.cpu().numpy()}
        if pair_conf is not None:
            predictions["confidence"] = pair_conf.cpu().numpy()
        return metrics, predictions

    means = distribution.mean(params)
    kwargs = dict(recall_k=nearest.recall_k_values, metrics=nearest.metrics, backend=nearest.backend,
                  num_filter_out_bins=nearest.num_filter_out_bins if confidences is not None else 0,
                  memory_budget=nearest.memory_budget_mb * 2**20, query_mask=query_mask, gallery_mask=gallery_mask)
    errors: dict = {}  # per-query ERC errors: the report's ERC curves, whose areas are these metrics
    metrics = {}
    if "nearest" in names and scorer_name in VECTOR_SCORERS:
        metrics = retrieval_metrics(means, embedded.labels, confidences, scorer=VECTOR_SCORERS[scorer_name][1],
                                    query_errors=errors, **kwargs)
    elif "nearest" in names:
        scorer = model._scorer
        metrics = retrieval_metrics(params, embedded.labels, confidences, modes=distribution.mode(params),
                                    rerank_fn=lambda q, c: scorer(q, c), query_errors=errors, **kwargs)
    if "quality" in names and embedded.quality is not None and confidences is not None:
        metrics["quality_scc"] = quality_scc(embedded.quality, confidences)
    metrics.update(classifier_metrics(model, params, embedded.labels, list(names)))
    predictions = {"mean": means.cpu().numpy().astype(np.float32), "labels": embedded.labels.cpu().numpy()}
    if confidences is not None:
        predictions["confidence"] = confidences.cpu().numpy()
    for name, values in errors.items():
        predictions[f"errors-{name}"] = values
    if embedded.quality is not None:
        predictions["quality"] = embedded.quality.cpu().numpy()
    return metrics, predictions


def evaluate_model(model: torch.nn.Module, datasets: dict, cfg: Config, device: torch.device, *,
                   progress: bool = True, keep_predictions: bool = False) -> tuple[dict, dict]:
    """``({set: {metric: value}}, {set: {array: values}})`` for every set of ``datasets``."""
    metrics, predictions = {}, {}
    embedded_sets: dict[int, Embedded] = {}  # id(classification set) -> its parameters
    flip = cfg.metrics_params.verification_metrics_params.flip_fusion
    for name, dataset in datasets.items():
        base = getattr(dataset, "base", None)
        if not dataset.classification and hasattr(dataset, "pairs") and id(base) in embedded_sets and not flip:
            embedded = pairs_of(embedded_sets[id(base)], dataset.pairs, dataset.labels)  # embed each image once
        else:
            embedded = embed(model, dataset, cfg, device, progress=progress, desc=f"embed {name}")
        if dataset.classification:
            embedded_sets[id(dataset)] = embedded
        masks = {k: torch.as_tensor(getattr(dataset, k), device=device)
                 for k in ("query_mask", "gallery_mask") if getattr(dataset, k, None) is not None}
        names = classification_metric_names(cfg, "test", dataset, model) if dataset.classification else []
        metrics[name], set_predictions = set_metrics(model, embedded, cfg, names=names, **masks)
        if keep_predictions:
            predictions[name] = set_predictions
    return metrics, predictions
