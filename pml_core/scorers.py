"""Pairwise scorers of two broadcastable parameter batches (docs/reference.md §3).

``create_scorer(name, distribution, params)`` -> nn.Module with ``forward(params1 (..., P), params2 (..., P)) -> (...)``,
higher = more similar. Names as in the reference: dot, cosine, l2, mls, hib, ecs.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .config import check_params
from .errors import ConfigError
from .functional import scoring as F
from .registry import lookup

__all__ = ["SCORERS", "create_scorer", "DotScorer", "CosineScorer", "L2Scorer", "MLSScorer", "HIBScorer", "ECSScorer"]


class _Scorer(nn.Module):
    DEFAULTS: dict = {}  # the keys `model_params.scorer_params` may set (none for most scorers)

    def __init__(self, distribution):
        super().__init__()
        self.distribution = distribution

    def extra_repr(self):
        return f"distribution={self.distribution!r}"

    def statistics(self) -> dict:
        return {}


class DotScorer(_Scorer):
    """<mean1, mean2> (for vMF the mean is A_D(kappa) mu, i.e. shrunk)."""

    def forward(self, params1, params2):
        return F.dot_score(self.distribution.mean(params1), self.distribution.mean(params2))


class CosineScorer(_Scorer):
    """Cosine of the means."""

    def forward(self, params1, params2):
        return F.cosine_score(self.distribution.mean(params1), self.distribution.mean(params2))


class L2Scorer(_Scorer):
    """-|mean1 - mean2|^2."""

    def forward(self, params1, params2):
        return F.neg_squared_l2(self.distribution.mean(params1), self.distribution.mean(params2))


class MLSScorer(_Scorer):
    """Log mutual likelihood score ``distribution.logmls`` (Gaussian: PFE, vMF: SCF)."""

    def __init__(self, distribution):
        super().__init__(distribution)
        if not distribution.has_confidences:
            raise ConfigError("scorer 'mls' needs a probabilistic distribution ('gmm' or 'vmf'), not 'dirac'")

    def forward(self, params1, params2):
        return self.distribution.logmls(params1, params2)


def _samples(distribution, params, num_samples):
    """(..., P) -> (..., K, D)."""
    return distribution.sample(params, (*params.shape[:-1], num_samples))


class HIBScorer(_Scorer):
    """HIB: mean over sample pairs of sigmoid(-a |z1 - z2| + b), a > 0 and b trainable (init a = 1, b = 0;
    the initialiser sets both from the first training batches, `pml_core.initializer`).

    ``positive_scale=True`` (kit default) learns a = softplus(``softplus_scale``), so that a stays positive as
    the HIB paper requires (a <= 0 would make distant pairs match: the model collapses); softplus is nearly the
    identity at the initial a (~2: gradient factor 0.9), so training moves as with a itself, where ``log a``
    would multiply a's gradient by a (~2) and make the large logit a |z1 - z2| ~ 40 oscillate. ``False`` learns
    a itself, as the reference does. The distance is clamped before the square root (reference bug fixed).
    """

    DEFAULTS = {"num_samples": 8, "positive_scale": True}

    def __init__(self, distribution, num_samples: int = 8, positive_scale: bool = True):
        super().__init__(distribution)
        self.num_samples = int(num_samples)
        self.positive_scale = bool(positive_scale)
        if self.positive_scale:
            self.softplus_scale = nn.Parameter(torch.full([], math.log(math.expm1(1.0))))  # a = 1
        else:
            self.scale = nn.Parameter(torch.ones([]))
        self.bias = nn.Parameter(torch.zeros([]))

    def scale_value(self) -> torch.Tensor:
        """The current a (0-dim tensor, differentiable)."""
        return nn.functional.softplus(self.softplus_scale) if self.positive_scale else self.scale

    @torch.no_grad()
    def set_scale(self, value: float) -> None:
        if self.positive_scale:
            if not value > 0:
                raise ConfigError(f"the HIB scale must be positive (positive_scale: true), got {value}")
            self.softplus_scale.fill_(value + math.log(-math.expm1(-value)))  # softplus^-1, stable for large a
        else:
            self.scale.fill_(value)

    @torch.no_grad()
    def set_bias(self, value: float) -> None:
        self.bias.fill_(value)

    def forward(self, params1, params2):
        s1 = _samples(self.distribution, params1, self.num_samples)
        s2 = _samples(self.distribution, params2, self.num_samples)
        return F.hib_match_probability(s1, s2, self.scale_value().to(s1.dtype), self.bias.to(s1.dtype))

    def log_match(self, params1, params2) -> tuple[torch.Tensor, torch.Tensor]:
        """(log p, log(1 - p)) of `forward`'s probability p, computed in log space (what the HIB loss uses)."""
        s1 = _samples(self.distribution, params1, self.num_samples)
        s2 = _samples(self.distribution, params2, self.num_samples)
        return F.hib_log_match_probability(s1, s2, self.scale_value().to(s1.dtype), self.bias.to(s1.dtype))

    def statistics(self) -> dict:
        return {"scorer_scale": self.scale_value().item(), "scorer_bias": self.bias.item()}


class ECSScorer(_Scorer):
    """Expected cosine similarity. vMF: exact closed form A(k1) A(k2) <mu1, mu2> (``method="auto"``);
    otherwise Monte-Carlo with ``num_samples`` samples per side (the reference's 10 x 10 estimate).
    ``method="sample"`` forces sampling for every distribution. No debug print (reference leftover removed).
    """

    METHODS = ("auto", "sample")
    DEFAULTS = {"num_samples": 10, "method": "auto"}

    def __init__(self, distribution, num_samples: int = 10, method: str = "auto"):
        super().__init__(distribution)
        if method not in self.METHODS:
            raise ConfigError(f"ecs method must be one of {self.METHODS}, got {method!r}")
        self.num_samples = int(num_samples)
        self.method = method

    def forward(self, params1, params2):
        if self.method == "auto" and hasattr(self.distribution, "expected_cosine"):
            return self.distribution.expected_cosine(params1, params2)
        if not self.distribution.has_confidences:  # Dirac: every sample is the mean
            return F.cosine_score(self.distribution.mean(params1), self.distribution.mean(params2))
        s1 = _samples(self.distribution, params1, self.num_samples)
        s2 = _samples(self.distribution, params2, self.num_samples)
        return F.sampled_expected_cosine(s1, s2)


SCORERS = {
    "dot": DotScorer,
    "cosine": CosineScorer,
    "l2": L2Scorer,
    "mls": MLSScorer,
    "hib": HIBScorer,
    "ecs": ECSScorer,
}


def create_scorer(name: str, distribution, params: dict | None = None, **more) -> nn.Module:
    """Build the scorer registered as ``name`` for ``distribution`` with ``params`` (`model_params.scorer_params`)
    and keyword ``more``, checked against the scorer's DEFAULTS: ConfigError naming the valid names or keys."""
    cls = lookup("scorer", SCORERS, name)
    given = {**(params or {}), **more}
    return cls(distribution, **check_params("scorer", name, given, cls.DEFAULTS, "model_params.scorer_params"))
