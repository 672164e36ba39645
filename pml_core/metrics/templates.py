"""Template (set-to-set) face verification: aggregation, probabilistic fusion, TAR@FAR (IJB-B / IJB-C 1:1).

A template is a set of images of one subject, grouped into media (a photo or the frames of one video).

* ``mean_templates``: the usual protocol of ArcFace-style evaluation: unit-normalise each image
  feature, average within each media, sum the media of a template (= media-balanced mean), normalise.
* ``fuse_templates``: probabilistic fusion of all the images of a template (PFE, Shi & Jain 2019, eq. 7):
  the renormalised product of the per-image densities, i.e. ``pdf_product`` iterated, in closed form:
  Gaussian: precision-weighted mean ``mu = sum(mu_i / s_i^2) / sum(1 / s_i^2)`` and
  variance ``1 / sum(1 / s_i^2)`` (per dimension when diagonal);
  vMF: ``v = sum(kappa_i mu_i)``, direction ``v / |v|``, concentration ``|v|``;
  Dirac: the plain mean of the (normalised) features.
* ``tar_at_far``: TAR at the ROC point with the largest FAR not above each target (never an
  interpolated or closest point that may exceed it).

Shapes: ``N`` images, ``T`` templates, ``D`` dims, ``P`` distribution parameters, ``Q`` template pairs.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from ..errors import ConfigError, DataError
from .verification import roc_curve

__all__ = ["group_index", "group_sum", "mean_templates", "fuse_gaussian", "fuse_vmf", "fuse_templates",
           "pair_scores", "tar_at_far", "far_key"]


def group_index(ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(unique ids (G,) sorted, inverse (N,))`` of an id vector (N,)."""
    unique, inverse = torch.unique(ids, sorted=True, return_inverse=True)
    return unique, inverse


def group_sum(values: torch.Tensor, inverse: torch.Tensor, num_groups: int) -> torch.Tensor:
    """Sum of rows by group: values (N, ...) -> (G, ...)."""
    out = torch.zeros((num_groups, *values.shape[1:]), dtype=values.dtype, device=values.device)
    return out.index_add_(0, inverse, values)


def _normalize(x: torch.Tensor) -> torch.Tensor:
    return x / x.norm(dim=-1, keepdim=True).clamp_min(1e-12)


def mean_templates(features: torch.Tensor, template_ids: torch.Tensor, media_ids: torch.Tensor | None = None,
                   *, weights: torch.Tensor | None = None, normalize: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Media-balanced template means. features (N, D), ids (N,) -> (template ids (T,), unit vectors (T, D)).

    ``weights`` (N,) (e.g. detector face scores) multiply the normalised image features first.
    Without ``media_ids`` every image is its own media (plain mean).
    """
    x = _normalize(features.double()) if normalize else features.double()
    if weights is not None:
        x = x * weights.double().reshape(-1, 1)
    templates, t_inv = group_index(template_ids)
    if media_ids is None:
        return templates, _normalize(group_sum(x, t_inv, len(templates))).to(features.dtype)
    # a media is a (template, media) pair: the same media id may occur in two templates
    media_unique, media_local = group_index(media_ids)
    _, m_inv = group_index(t_inv.to(torch.int64) * len(media_unique) + media_local)
    num_media = int(m_inv.max()) + 1
    counts = group_sum(torch.ones_like(x[:, :1]), m_inv, num_media)
    media = group_sum(x, m_inv, num_media) / counts
    media_template = torch.zeros(num_media, dtype=torch.int64, device=x.device).index_copy_(0, m_inv, t_inv)
    return templates, _normalize(group_sum(media, media_template, len(templates))).to(features.dtype)


def fuse_gaussian(mean: torch.Tensor, log_variance: torch.Tensor, inverse: torch.Tensor, num_groups: int
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Product of Gaussians per group. mean (N, D), log_variance (N, 1|D) -> (G, D), (G, 1|D) in float64."""
    precision = torch.exp(-log_variance.double())
    total = group_sum(precision, inverse, num_groups)
    fused_mean = group_sum(precision * mean.double(), inverse, num_groups) / total
    return fused_mean, -torch.log(total)


def fuse_vmf(direction: torch.Tensor, kappa: torch.Tensor, inverse: torch.Tensor, num_groups: int
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """Product of vMFs per group. direction (N, D) unit, kappa (N,) -> direction (G, D), kappa (G,) in float64."""
    v = group_sum(kappa.double().unsqueeze(-1) * direction.double(), inverse, num_groups)
    norm = v.norm(dim=-1)
    return v / norm.clamp_min(1e-300).unsqueeze(-1), norm


def fuse_templates(distribution, params: torch.Tensor, template_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Probabilistic fusion of each template's images. params (N, P) -> (template ids (T,), params (T, P)).

    Gaussian (``gmm``) and vMF need a learned uncertainty; a Dirac distribution falls back to the mean
    of its normalised features (what fusion of equal-confidence items gives).
    """
    from ..distributions.dirac import Dirac
    from ..distributions.gaussian import Gaussian
    from ..distributions.vmf import VonMisesFisher

    templates, inverse = group_index(template_ids)
    count = len(templates)
    if isinstance(distribution, Gaussian):
        if distribution.fixed_variance is not None:
            raise ConfigError("PFE template fusion needs a learned variance ('gmm' with covariance 'spherical' "
                              "or 'diagonal'); use --aggregation mean for a fixed covariance")
        split = distribution.split(params)
        mean, log_var = fuse_gaussian(split.mean, split.log_variance, inverse, count)
        return templates, distribution.join(mean.to(params.dtype), log_var.to(params.dtype))
    if isinstance(distribution, VonMisesFisher):
        if distribution.fixed_kappa is not None:
            raise ConfigError("PFE template fusion needs a learned vMF concentration (k 'separate' or 'norm'); "
                              "use --aggregation mean for a fixed kappa")
        split = distribution.split(params)
        direction, kappa = fuse_vmf(split.mean, torch.exp(split.log_kappa), inverse, count)
        return templates, distribution.join(direction.to(params.dtype), torch.log(kappa).to(params.dtype))
    if isinstance(distribution, Dirac):
        _, vectors = mean_templates(distribution.mean(params), template_ids)
        return templates, vectors
    raise ConfigError(f"no template fusion for distribution {distribution!r}")


def pair_scores(score_fn, left: torch.Tensor, right: torch.Tensor, index1: torch.Tensor, index2: torch.Tensor,
                chunk: int = 65536) -> torch.Tensor:
    """Scores of template pairs: ``score_fn(left[index1], right[index2])`` in chunks -> (Q,)."""
    return torch.cat([score_fn(left[index1[i:i + chunk]], right[index2[i:i + chunk]])
                      for i in range(0, len(index1), chunk)]) if len(index1) else torch.zeros(0)


def far_key(far: float) -> str:
    """``1e-4 -> "tar@far=1e-4"``, ``0.15 -> "tar@far=1.5e-1"``."""
    mantissa, exponent = f"{far:.6e}".split("e")
    return f"tar@far={mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"


def tar_at_far(scores, labels, fars: Sequence[float] = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1)) -> dict[str, float]:
    """``{"tar@far=1e-4": TAR, "far@far=1e-4": FAR used, ...}`` plus ``auc``.

    The operating point for a target f is the ROC point with the largest FAR <= f (the lowest
    threshold whose false accept rate does not exceed the target); with fewer than 1/f negative pairs
    this is the point with no false accept at all. Non-finite scores are dropped.
    """
    s = np.asarray(scores.detach().cpu().numpy() if isinstance(scores, torch.Tensor) else scores, np.float64).reshape(-1)
    y = np.asarray(labels.detach().cpu().numpy() if isinstance(labels, torch.Tensor) else labels, np.float64).reshape(-1)
    if s.shape != y.shape:
        raise DataError(f"scores and labels must have the same length, got {s.size} and {y.size}")
    keep = np.isfinite(s)
    s, y = s[keep], y[keep]
    if not ((y > 0.5).any() and (y <= 0.5).any()):
        raise DataError("TAR@FAR needs both genuine and impostor pairs")
    fpr, tpr, _ = roc_curve(s, y)
    out: dict[str, float] = {}
    for far in fars:
        j = int(np.searchsorted(fpr, far, side="right")) - 1  # last point with fpr <= far (highest tpr)
        out[far_key(far)] = float(tpr[j])
        out[far_key(far).replace("tar@", "far-used@")] = float(fpr[j])
    out["auc"] = float(np.trapezoid(tpr, fpr))
    return out
