"""IJB-B / IJB-C 1:1 template verification of a model (``python -m pml_core ijb``).

images -> per-image distribution parameters (optionally fused with the flipped image) -> templates
(``aggregation="mean"``: media-balanced mean of unit features; ``"pfe"``: product of the per-image
densities, see `pml_core.metrics.templates`) -> template-pair scores (``scorer="cosine"`` of the
template means, or ``"mls"``: the distribution's mutual likelihood score, PFE fusion only) ->
TAR at FAR 1e-6 ... 1e-1.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from .config import Config
from .errors import ConfigError, DataError
from .metrics.templates import fuse_templates, mean_templates, pair_scores, tar_at_far

AGGREGATIONS = ("mean", "pfe")
SCORERS = ("cosine", "mls")
FARS = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1)


def fuse_views(distribution, params: torch.Tensor, flipped: torch.Tensor) -> torch.Tensor:
    """Flip fusion of two views of each image: (B, P), (B, P) -> (B, P) (the product of the two densities
    for gmm / vMF, the normalised sum of the features for a Dirac)."""
    ids = torch.arange(len(params), device=params.device)
    return fuse_templates(distribution, torch.cat([params, flipped]), torch.cat([ids, ids]))[1].to(params.dtype)


@torch.no_grad()
def embed_images(model, dataset, cfg: Config, device, *, flip: bool = False, progress: bool = True) -> torch.Tensor:
    """Parameters (N, P) of a classification-style image set (test transform), flip-fused if asked."""
    from .data import build_eval_loader

    model.eval()
    out = []
    for batch in tqdm(build_eval_loader(dataset, cfg.dataset_params), desc="embed faces", leave=False,
                      disable=not progress):
        images = batch[0].to(device)
        params = model.embed(images).float()
        if flip:
            params = fuse_views(model.distribution, params, model.embed(torch.flip(images, dims=[-1])).float())
        out.append(params)
    return torch.cat(out)


def template_metrics(distribution, params: torch.Tensor, templates, media, pairs, labels, *,
                     aggregation: str = "mean", scorer: str = "cosine", face_scores=None,
                     fars=FARS) -> dict[str, float]:
    """TAR@FAR of template pairs from per-image parameters.

    params (N, P); templates, media (N,) ids; pairs (Q, 2) template ids; labels (Q,) 1 genuine / 0 impostor;
    face_scores (N,) optional detector scores weighting the images of the mean aggregation.
    """
    if aggregation not in AGGREGATIONS:
        raise ConfigError(f"unknown template aggregation {aggregation!r}; valid: {', '.join(AGGREGATIONS)}")
    if scorer not in SCORERS:
        raise ConfigError(f"unknown template scorer {scorer!r}; valid: {', '.join(SCORERS)}")
    device = params.device
    templates = torch.as_tensor(np.asarray(templates), device=device)
    media = torch.as_tensor(np.asarray(media), device=device)
    if aggregation == "mean":
        if scorer == "mls":
            raise ConfigError("scorer 'mls' needs distributions per template: use aggregation 'pfe'")
        weights = None if face_scores is None else torch.as_tensor(np.asarray(face_scores), device=device)
        ids, fused = mean_templates(distribution.mean(params), templates, media, weights=weights)
        score_fn = lambda a, b: (a * b).sum(-1)  # noqa: E731 (unit vectors)
    else:
        if scorer == "mls" and not distribution.has_confidences:
            raise ConfigError("scorer 'mls' needs a probabilistic distribution ('gmm' or 'vmf')")
        ids, fused = fuse_templates(distribution, params, templates)
        if scorer == "mls":
            score_fn = distribution.logmls
        else:
            def score_fn(a, b):
                ma, mb = distribution.mean(a), distribution.mean(b)
                return (ma * mb).sum(-1) / (ma.norm(dim=-1) * mb.norm(dim=-1)).clamp_min(1e-12)
    pairs = torch.as_tensor(np.asarray(pairs), device=device).reshape(-1, 2)
    index = torch.searchsorted(ids, pairs)
    found = (index < len(ids)) & (ids[index.clamp_max(len(ids) - 1)] == pairs)
    if not bool(found.all()):
        raise DataError("some template pairs name templates without images")
    scores = pair_scores(score_fn, fused, fused, index[:, 0], index[:, 1])
    result = tar_at_far(scores, labels, fars)
    result["num_pairs"] = int(len(scores))
    result["num_templates"] = int(len(ids))
    return result


def load_face_model(cfg: Config, checkpoint: str | Path, device):
    """The embedding part of a trained model (the classifier, unused for verification, is not built)."""
    from .config import num_stages, stage_config
    from .model import build_model
    from .train import checkpoint as ckpt

    last = stage_config(cfg, num_stages(cfg) - 1)
    params = dataclasses.replace(last.model_params, classifier_type=None, freeze_classifier=False)
    model = build_model(params, num_classes=0).to(device)
    state = {k: v for k, v in ckpt.load_model_weights(checkpoint).items() if not k.startswith("_classifier.")}
    ckpt.load_model_state(model, state)
    return model, last


def ijb_evaluate(cfg: Config, checkpoint: str | Path, ijb_root: str | Path, name: str, *,
                 aggregation: str = "mean", scorer: str = "cosine", flip: bool = True,
                 use_face_scores: bool = False, progress: bool = True) -> dict[str, float]:
    """TAR@FAR of a checkpoint on IJB-B (``name="ijbb"``) or IJB-C (``"ijbc"``)."""
    from .data.formats.ijb import IJBImages, read_ijb_meta
    from .utils import resolve_device

    device = resolve_device(cfg.device)
    model, last = load_face_model(cfg, checkpoint, device)  # a bad checkpoint fails before the meta files are read
    meta = read_ijb_meta(ijb_root, name)
    size = last.dataset_params.transform_params.image_size
    params = embed_images(model, IJBImages(meta, size=size), last, device, flip=flip, progress=progress)
    face_scores = meta.scores if use_face_scores else None
    if use_face_scores and face_scores is None:
        raise DataError(f"--face-scores needs {name}_name_5pts_score.txt beside the other meta files")
    result = template_metrics(model.distribution, params, meta.templates, meta.media, meta.pairs, meta.labels,
                              aggregation=aggregation, scorer=scorer, face_scores=face_scores)
    result.update(set=name, aggregation=aggregation, scorer=scorer, flip=flip)
    return result
