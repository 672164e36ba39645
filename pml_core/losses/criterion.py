"""The criterion: weighted sum of the enabled loss terms (docs/reference.md §4), computed in float32.

``L = w_xent L_xent + w_hinge L_hinge + w_pa L_proxy_anchor + w_nca L_proxy_nca + w_ms L_multisim
+ w_kld L_prior_kld + w_pfe L_pfe + w_hib L_hib``; a term with weight 0 is not computed.
"""

from __future__ import annotations

import torch

from ..config import CriterionParams
from ..errors import ConfigError
from ..functional import losses_classification as lc
from ..functional import losses_metric as lm


def pairwise(fn, params: torch.Tensor, other: torch.Tensor | None = None) -> torch.Tensor:
    """fn(params[:, None], other[None]) -> (B, B') for a broadcasting scorer / logmls."""
    other = params if other is None else other
    return fn(params[:, None, :], other[None, :, :])


class Criterion:
    """``criterion(output, labels) -> (loss, {term: 0-dim tensor, detached})``; ``output`` is a ModelOutput.

    Terms stay on the device (no host sync per step); the training loop reads them once per epoch.
    """

    TERMS = ("xent", "hinge", "proxy_anchor", "proxy_nca", "multi_similarity", "prior_kld", "pfe", "hib")

    def __init__(self, params: CriterionParams, model):
        self.params = params
        self.model = model
        self.weights = {
            "xent": params.xent_weight,
            "hinge": params.hinge_weight,
            "proxy_anchor": params.proxy_anchor_weight,
            "proxy_nca": params.proxy_nca_weight,
            "multi_similarity": params.multi_similarity_weight,
            "prior_kld": params.prior_kld_weight,
            "pfe": params.pfe_weight,
            "hib": params.hib_weight,
        }
        classifier = getattr(model, "_classifier", None)
        needs_logits = [t for t in ("xent", "hinge", "proxy_anchor") if self.weights[t] != 0]
        if needs_logits and classifier is None:
            raise ConfigError(f"criterion terms {needs_logits} need classifier logits but classifier_type is null: "
                              "set their weights to 0 (e.g. criterion_params.xent_weight: 0) or choose a classifier")
        if self.weights["proxy_nca"] != 0:
            if classifier is None or not hasattr(classifier, "weight"):
                raise ConfigError("proxy_nca_weight needs a classifier with class proxies (classifier_type: scorer)")
            if getattr(classifier, "bias", None) is not None:
                raise ConfigError("Proxy-NCA needs a classifier without bias: set classifier_params.use_bias: false")
        if self.weights["prior_kld"] != 0 or self.weights["pfe"] != 0:
            if not getattr(model.distribution, "has_confidences", False):
                raise ConfigError("prior_kld / pfe losses need a probabilistic distribution (gmm or vmf), not dirac")

    def enabled(self) -> list[str]:
        return [t for t in self.TERMS if self.weights[t] != 0]

    def term(self, name: str, output, labels: torch.Tensor) -> torch.Tensor:
        p = self.params
        params = output.params.float()
        logits = output.logits.float() if output.logits is not None else None
        model = self.model
        if name == "xent":
            if p.use_softmax:
                return lc.cross_entropy(logits, labels, p.xent_smoothing)
            return lc.nll(logits, labels)
        if name == "hinge":
            return lc.hinge(logits, labels, p.hinge_margin)
        if name == "proxy_anchor":
            return lc.proxy_anchor(logits, labels)
        if name == "proxy_nca":
            proxies = model._classifier.weight.float()
            distances = -pairwise(model._scorer, params, proxies)
            return lm.proxy_nca(distances, labels)
        if name == "multi_similarity":
            ms = p.multi_similarity_params
            scores = pairwise(model._scorer, params)
            return lm.multi_similarity(scores, labels, threshold=ms.threshold, margin=ms.margin,
                                       positive_scale=ms.positive_scale, negative_scale=ms.negative_scale)
        if name == "prior_kld":
            return model.distribution.prior_kld(params).mean()
        if name == "pfe":
            return lm.pfe(pairwise(model.distribution.logmls, params), labels, match_self=p.pfe_match_self)
        if name == "hib":
            scorer = model._scorer
            if hasattr(scorer, "log_match"):  # the HIB scorer: log probabilities computed stably
                log_p, log_q = scorer.log_match(params[:, None, :], params[None, :, :])
                return lm.hib_from_logs(log_p, log_q, labels)
            return lm.hib(pairwise(scorer, params), labels)
        raise ConfigError(f"unknown criterion term {name!r}")

    def __call__(self, output, labels: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        terms: dict[str, torch.Tensor] = {}
        total = None
        with torch.autocast(device_type=output.params.device.type, enabled=False):
            for name in self.enabled():
                value = self.term(name, output, labels)
                terms[name] = value.detach()
                weighted = self.weights[name] * value
                total = weighted if total is None else total + weighted
        if total is None:
            total = output.params.float().sum() * 0
        return total, terms


def build_criterion(criterion_params: CriterionParams, model) -> Criterion:
    """The criterion of ``criterion_params`` for ``model`` (checks that the needed parts exist)."""
    if not isinstance(criterion_params, CriterionParams):
        raise ConfigError(f"build_criterion expects CriterionParams, got {type(criterion_params).__name__}")
    return Criterion(criterion_params, model)
