"""Golden mapping of the classifier and loss cases (heads and losses area).

``CASES = {case_name: fn(arrays, hp) -> {output_name: array}}``; computed in float64 with the kit's
functional code (``pml_core.functional.heads_*`` / ``losses_*``).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from pml_core.functional import heads_loglike as hl
from pml_core.functional import heads_margin as hm
from pml_core.functional import heads_spe as hs
from pml_core.functional import heads_vmf_loss as hv
from pml_core.functional import losses_classification as lc
from pml_core.functional import losses_metric as lm
from pml_core.functional import scoring
from pml_core.functional.bessel import vmf_mean_resultant_length


def _t(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.asarray(array))


def _np(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().cpu().numpy()


def arcface_logits(a, hp):
    x, w, y = _t(a["x"]), _t(a["weight"]), _t(a["labels"])
    logits = hm.arcface_logits(x, w, y, scale=hp["scale"], margin=hp["margin"], eps=hp.get("eps", 1e-6))
    return {"logits": _np(logits), "logits_nolabels": _np(hm.arcface_logits(x, w, None, scale=hp["scale"])),
            "xent": _np(lc.cross_entropy(logits, y))}


def cosface_logits(a, hp):
    x, w, y = _t(a["x"]), _t(a["weight"]), _t(a["labels"])
    s, m = hp["scale"], hp["margin"]
    logits = hm.cosface_logits(x, w, y, s, m)
    return {"logits": _np(logits), "logits_nolabels": _np(hm.cosface_logits(x, w, None, s, m)),
            "logits_symmetric": _np(hm.cosface_logits(x, w, y, s, m, symmetric=True)),
            "logits_symmetric_nolabels": _np(hm.cosface_logits(x, w, None, s, m, symmetric=True)),
            "xent": _np(lc.cross_entropy(logits, y))}


def loglike_vmf(a, hp):
    mu, kappa, w, y = _t(a["mu"]), _t(a["kappa"]), _t(a["weight"]), _t(a["labels"])
    base = hl.predicted_vmf_logits(mu, kappa, w, rule="reference")
    margin = hl.subtract_margin(base, y, hp["margin"])
    priors = hl.add_log_priors(margin, torch.log(_t(a["class_priors"])))
    return {"logits_nolabels": _np(base), "logits_margin": _np(margin), "logits_priors_margin": _np(priors)}


def loglike_gaussian_scalar_normalized(a, hp):
    mu, var, w, y = _t(a["mu"]), _t(a["var"]), _t(a["weight"]), _t(a["labels"])
    base = hl.predicted_gaussian_logits(mu, var, w, spherical=True)
    return {"logits_nolabels": _np(base), "logits_margin": _np(hl.subtract_margin(base, y, hp["margin"]))}


def loglike_dirac_vmf_target(a, hp):
    x, w, kappa, y = _t(a["x"]), _t(a["weight"]), _t(a["kappa"]), _t(a["labels"])
    base = hl.vmf_target_logits(x, w, kappa, rule="reference")
    return {"logits_nolabels": _np(base), "logits_margin": _np(hl.subtract_margin(base, y, hp["margin"]))}


def loglike_dirac_gaussian_target(a, hp):
    return {"logits": _np(hl.gaussian_target_logits(_t(a["x"]), _t(a["weight"]), _t(a["var"]), spherical=True))}


def spe_logits(a, hp):
    mu, var, y = _t(a["mu"]), _t(a["var"]), _t(a["labels"])
    c = int(hp["num_classes"])
    run = lambda eps: _np(hs.spe_logits(mu, var, y, c, epsilon=eps, sample_size=0, denominator="reference"))  # noqa: E731
    return {"logits_eps0": run(0.0), "logits_eps": run(hp["epsilon"])}


def vmf_loss_fixed_samples(a, hp):
    mu, kappa, samples, y = _t(a["mu"]), _t(a["kappa"]), _t(a["samples"]), _t(a["labels"])
    tmu, tkappa, tsamples, det = _t(a["target_mu"]), _t(a["target_kappa"]), _t(a["target_samples"]), _t(a["det_target"])
    dim = mu.shape[-1]
    t = hp["scale"]
    mean_x = vmf_mean_resultant_length(dim, kappa)[:, None] * F.normalize(mu, dim=-1)
    target_mean = vmf_mean_resultant_length(dim, tkappa)[:, None] * F.normalize(tmu, dim=-1)
    prob = lambda approx: _np(hv.vmf_loss_probabilistic(  # noqa: E731
        mean_x, samples, tmu, tkappa, target_mean, y, t, approximate_logc=approx, exact_scale_normalizer=True))
    return {"loss_approx": prob(True), "loss_exact": prob(False),
            "loss_det_target": _np(hv.vmf_loss_deterministic(mean_x, samples, det, y, t)),
            "test_logits_det_target": _np(hv.vmf_loss_inference_deterministic(samples, det, t)),
            "test_logits_prob_target": _np(hv.vmf_loss_inference_probabilistic(samples, tsamples, t))}


def proxy_anchor_loss(a, hp):
    x, p, y = _t(a["x"]), _t(a["proxies"]), _t(a["labels"])
    logits = hm.cosface_logits(x, p, y, hp["scale"], hp["margin"], symmetric=True)
    return {"logits": _np(logits), "loss": _np(lc.proxy_anchor(logits, y)),
            "loss_from_logits_raw": _np(lc.proxy_anchor(_t(a["logits_raw"]), y))}


def multi_similarity_loss(a, hp):
    x, y = F.normalize(_t(a["x"]), dim=-1), _t(a["labels"])
    per = lm.multi_similarity_per_anchor(x @ x.t(), y, threshold=hp["threshold_lambda"], margin=hp["margin"],
                                         positive_scale=hp["alpha_positive_scale"],
                                         negative_scale=hp["beta_negative_scale"])
    return {"loss_per_anchor": _np(per), "loss": _np(per.mean())}


def proxy_nca_loss(a, hp):
    x, p, y = F.normalize(_t(a["x"]), dim=-1), F.normalize(_t(a["proxies"]), dim=-1), _t(a["labels"])
    distances = (x[:, None, :] - p[None, :, :]).square().sum(-1)
    per = lm.proxy_nca_per_sample(distances, y)
    return {"loss_per_sample": _np(per), "loss": _np(per.mean())}


def hinge_loss(a, hp):
    return {"loss": _np(lc.hinge(_t(a["logits"]), _t(a["labels"]), hp["margin"]))}


def hib_fixed_samples(a, hp):
    sa, sb, y = _t(a["samples_a"]), _t(a["samples_b"]), _t(a["labels"])
    scores = scoring.hib_match_probability(sb[:, None], sa[None, :], hp["scale"], hp["bias"])  # (i, j): B_i vs A_j
    return {"scores": _np(scores), "loss": _np(lm.hib(scores, y))}


def pfe_loss(a, hp):
    mu, var, y = F.normalize(_t(a["mu"]), dim=-1), _t(a["var"]), _t(a["labels"])
    mls = hs.gaussian_logpdf(mu[:, None], mu[None, :], var[:, None] + var[None, :])
    return {"loss_match_self": _np(lm.pfe(mls, y, True)), "loss_no_self": _np(lm.pfe(mls, y, False))}


CASES = {fn.__name__: fn for fn in (
    arcface_logits, cosface_logits, loglike_vmf, loglike_gaussian_scalar_normalized, loglike_dirac_vmf_target,
    loglike_dirac_gaussian_target, spe_logits, vmf_loss_fixed_samples, proxy_anchor_loss, multi_similarity_loss,
    proxy_nca_loss, hinge_loss, hib_fixed_samples, pfe_loss,
)}
