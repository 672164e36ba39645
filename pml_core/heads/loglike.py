"""`loglike` head (docs/reference.md §2.4): log-likelihood logits, with optional per-class target distributions
(DSML), class priors and an additive target margin. Math in `functional.heads_loglike`.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..errors import ConfigError
from ..functional import heads_loglike as hl
from .common import check_unknown, sample_points, xavier_weight

PRIOR_MODES = ("none", "pretrained", "trainable")


def _kind(distribution) -> str:
    name = type(distribution).__name__
    return {"Dirac": "dirac", "Gaussian": "gmm", "VonMisesFisher": "vmf"}.get(name, name)


def resolve_priors(mode, reference: bool) -> tuple[bool, bool]:
    """(use priors, trainable) of a priors mode.

    Intended (default): None/"none" -> no priors; "pretrained" -> dataset log-priors, frozen; "trainable" ->
    trainable, initialised to the dataset log-priors; anything else -> ConfigError. ``reference=True``: the
    reference's inverted logic ("pretrained" -> frozen, "trainable" -> error, any other string -> trainable).
    """
    if mode is None or mode == "none":
        return False, False
    if reference:
        if mode == "trainable":
            raise ConfigError("loglike priors 'trainable' is rejected by the reference logic (reference_priors_mode: true)")
        return True, mode != "pretrained"
    if mode not in PRIOR_MODES:
        raise ConfigError(f"classifier_params.priors must be one of {PRIOR_MODES} or null, got {mode!r}")
    return True, mode == "trainable"


class LogLikeHead(nn.Module):
    """(B, P) -> (B, C) log-likelihood logits."""

    DEFAULTS = {
        "priors": None,
        "margin": 0.0,
        "target_distribution": None,
        "target_distribution_params": None,
        "reference_priors_mode": False,  # kit: True = the reference's inverted priors logic (docs/reference.md §12.7)
        "initial_target_concentration": 16.0,  # kit: per-class targets start at kappa (vMF) = 1 / sigma^2 (gmm)
    }
    has_weight = True

    def __init__(self, distribution, num_classes: int, class_priors=None, **params):
        super().__init__()
        p = check_unknown("loglike", self.DEFAULTS, params)
        self.params = p
        self.distribution = distribution
        self.num_classes = num_classes
        self.margin = float(p["margin"])
        self.target = None
        if p["target_distribution"] is not None:
            from ..distributions import create_distribution

            target_params = {"dim": distribution.dim, **(p["target_distribution_params"] or {})}
            self.target = create_distribution(p["target_distribution"], target_params)
            if self.target.dim != distribution.dim or bool(self.target.is_spherical) != bool(distribution.is_spherical):
                raise ConfigError("loglike target_distribution must have the dim and sphericity of the model distribution")
            if not self.target.has_confidences:
                raise ConfigError("loglike target_distribution must be 'gmm' or 'vmf'")
            self.weight = xavier_weight(num_classes, self.target.num_parameters)
            self._initialise_target_concentration(p["initial_target_concentration"])
        else:
            if _kind(distribution) not in ("gmm", "vmf"):
                raise ConfigError("loglike without target_distribution needs a gmm or vmf model distribution "
                                  "(or set classifier_params.target_distribution for a dirac model)")
            self.weight = xavier_weight(num_classes, distribution.dim)
        use, trainable = resolve_priors(p["priors"], p["reference_priors_mode"])
        if use:
            if class_priors is None:
                if not trainable:
                    raise ConfigError("loglike priors 'pretrained' need the dataset class priors (none were given)")
                init = torch.zeros(num_classes)
            else:
                init = torch.log(torch.as_tensor(class_priors, dtype=torch.float32).clamp(min=1e-12))
                if init.shape != (num_classes,):
                    raise ConfigError(f"class priors have shape {tuple(init.shape)}, expected ({num_classes},)")
            self.log_priors = nn.Parameter(init, requires_grad=trainable)
        else:
            self.log_priors = None

    @torch.no_grad()
    def _initialise_target_concentration(self, concentration) -> None:
        """Set every class target's concentration (vMF kappa, Gaussian 1 / sigma^2) to ``concentration``.

        None keeps the reference's Xavier-uniform hidden column, i.e. kappa ~ 1 (sigma^2 ~ 1): on the unit
        sphere the class logits then span about 2 nats and the softmax starts almost uniform (docs/deviations.md).
        A target with a fixed concentration (no hidden column) has nothing to initialise.
        """
        if concentration is None:
            return
        if isinstance(concentration, bool) or not isinstance(concentration, (int, float)) or not concentration > 0:
            raise ConfigError(f"classifier_params.initial_target_concentration must be a positive number or null, "
                              f"got {concentration!r}")
        if self.target.num_parameters == self.target.dim:
            return
        log_concentration = torch.full((self.num_classes,), math.log(float(concentration)))
        mean = self.weight[:, : self.target.dim]
        if _kind(self.target) == "vmf":
            joined = self.target.join(mean, log_concentration)
        else:
            joined = self.target.join(mean, -log_concentration.unsqueeze(-1))
        self.weight.copy_(joined)

    def _bessel(self, distribution) -> str:
        return getattr(distribution, "bessel", "exact")

    def forward(self, params: torch.Tensor, labels: torch.Tensor | None = None, scorer=None) -> torch.Tensor:
        if self.target is None:
            split = self.distribution.split(params)
            if _kind(self.distribution) == "vmf":
                logits = hl.predicted_vmf_logits(split.mean, torch.exp(split.log_kappa), self.weight,
                                                 self._bessel(self.distribution))
            else:
                logits = hl.predicted_gaussian_logits(split.mean, torch.exp(split.log_variance), self.weight,
                                                      spherical=self.distribution.is_spherical)
        else:
            x = sample_points(self.distribution, params, True)
            split = self.target.split(self.weight)
            if _kind(self.target) == "vmf":
                logits = hl.vmf_target_logits(x, split.mean, torch.exp(split.log_kappa), self._bessel(self.target))
            else:
                logits = hl.gaussian_target_logits(x, split.mean, torch.exp(split.log_variance),
                                                   spherical=self.target.is_spherical)
        if self.log_priors is not None:
            logits = hl.add_log_priors(logits, self.log_priors)
        return hl.subtract_margin(logits, labels, self.margin)
