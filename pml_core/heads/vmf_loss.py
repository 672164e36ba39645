"""`vmf-loss` head (Scott et al., ICCV 2021; docs/reference.md §2.5). Math in `functional.heads_vmf_loss`."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from ..functional import heads_vmf_loss as hv
from .common import check_unknown


class VMFLossHead(nn.Module):
    """(B, P) -> (B, C). Training: column c = -loss_b had the label been c (NLL of the label = loss);
    inference: log of the Monte-Carlo class probabilities."""

    DEFAULTS = {
        "scale": "trainable",
        "initial_log_scale": 2.773,
        "kappa_confidence": 0.7,
        "sample_size": 10,
        "approximate_logc": True,
        "deterministic_target": False,
        "reference_scale_normalizer": False,  # kit: True = exact log C(s) with approximate class terms (docs/reference.md §12.6)
    }
    has_weight = True

    def __init__(self, distribution, num_classes: int, class_priors=None, **params):
        super().__init__()
        p = check_unknown("vmf-loss", self.DEFAULTS, params)
        if type(distribution).__name__ != "VonMisesFisher":
            raise ConfigError("classifier 'vmf-loss' needs distribution_type: vmf (the reality configs use k: norm)")
        if p["sample_size"] < 1:
            raise ConfigError("vmf-loss sample_size must be >= 1")
        self.params = p
        self.distribution = distribution
        dim = distribution.dim
        if p["scale"] == "trainable":
            self.log_scale = nn.Parameter(torch.tensor(float(p["initial_log_scale"])))
        elif isinstance(p["scale"], str):
            raise ConfigError(f"vmf-loss scale must be a number or 'trainable', got {p['scale']!r}")
        else:
            self.register_buffer("log_scale", torch.tensor(math.log(float(p["scale"]))))
        l = float(p["kappa_confidence"])
        if not 0 < l < 1:
            raise ConfigError(f"vmf-loss kappa_confidence must be in (0, 1), got {l}")
        means = torch.randn(num_classes, dim) * (l / (1 - l * l) * (dim - 1) / math.sqrt(dim))
        if p["deterministic_target"]:
            self.weight = nn.Parameter(means)
        else:
            norms = torch.linalg.vector_norm(means, dim=-1)
            self.weight = nn.Parameter(distribution.join(F.normalize(means, dim=-1), torch.log(norms)).detach())

    @property
    def scale(self) -> torch.Tensor:
        return torch.exp(self.log_scale)

    def forward(self, params: torch.Tensor, labels: torch.Tensor | None = None, scorer=None) -> torch.Tensor:
        p = self.params
        dist = self.distribution
        k = int(p["sample_size"])
        samples = dist.sample(params, (*params.shape[:-1], k))  # (B, K, D)
        s = self.scale.to(params.dtype)
        if labels is None:
            if p["deterministic_target"]:
                return hv.vmf_loss_inference_deterministic(samples, self.weight, s)
            target_samples = dist.sample(self.weight, (self.weight.shape[0], k))
            return hv.vmf_loss_inference_probabilistic(samples, target_samples, s)
        mean_x = dist.mean(params)
        if p["deterministic_target"]:
            return hv.vmf_loss_deterministic_logits(mean_x, samples, self.weight, s)
        split = dist.split(self.weight)
        return hv.vmf_loss_probabilistic_logits(
            mean_x, samples, split.mean, torch.exp(split.log_kappa), dist.mean(self.weight), s,
            approximate_logc=p["approximate_logc"], exact_scale_normalizer=p["reference_scale_normalizer"])
