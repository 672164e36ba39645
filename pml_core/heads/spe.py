"""`spe` head: Stochastic Prototype Embeddings (Scott et al. 2019; docs/reference.md §2.6). Math in `functional.heads_spe`."""

from __future__ import annotations

import math

import torch
from torch import nn

from ..errors import ConfigError
from ..functional import heads_spe as hs
from .common import check_unknown


class SPEHead(nn.Module):
    """(B, P) -> (B, C): training logits (log-probabilities; -100 for classes absent from the batch), zeros at inference."""

    DEFAULTS = {
        "train_epsilon": True,
        "sample_size": 16,
        "denominator": "paper",  # kit: "reference" = the implemented estimator behind the paper's numbers
        "reference_epsilon_init": False,  # kit: True = epsilon starts at exp(0.01^(2/D)) as in the reference
    }
    has_weight = False

    def __init__(self, distribution, num_classes: int, class_priors=None, **params):
        super().__init__()
        p = check_unknown("spe", self.DEFAULTS, params)
        if type(distribution).__name__ != "Gaussian":
            raise ConfigError("classifier 'spe' needs distribution_type: gmm")
        if p["denominator"] not in hs.DENOMINATORS:
            raise ConfigError(f"spe denominator must be one of {hs.DENOMINATORS}, got {p['denominator']!r}")
        self.params = p
        self.distribution = distribution
        self.num_classes = num_classes
        if p["train_epsilon"]:
            base = 0.01 ** (2.0 / distribution.dim)
            init = base if p["reference_epsilon_init"] else math.log(base)
            self.log_epsilon = nn.Parameter(torch.tensor(init))
        else:
            self.log_epsilon = None

    @property
    def epsilon(self) -> torch.Tensor | float:
        return 0.0 if self.log_epsilon is None else torch.exp(self.log_epsilon)

    def forward(self, params: torch.Tensor, labels: torch.Tensor | None = None, scorer=None) -> torch.Tensor:
        if labels is None:
            return params.new_zeros((params.shape[0], self.num_classes))
        split = self.distribution.split(params)
        eps = self.epsilon
        return hs.spe_logits(split.mean, torch.exp(split.log_variance), labels, self.num_classes,
                             epsilon=eps if isinstance(eps, float) else eps.to(params.dtype),
                             sample_size=int(self.params["sample_size"]), denominator=self.params["denominator"])
