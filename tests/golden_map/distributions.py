"""Golden mapping of the distributions area: groups gaussian, vmf (incl. log_bessel_iv) and parametrization.

Everything is evaluated with the exact log-Bessel function, except ``vmf_prior_kld``: its fixture has
no exact partner and was produced with the reference's SciPy underflow fallback (D = 512, kappa < ~12.8
gives reg = kappa exactly), so it is reproduced with ``rule="reference"``; the exact regulariser is
checked against mpmath in tests/test_functional_vmf.py.
"""

from __future__ import annotations

import numpy as np
import torch

from pml_core.functional import bessel, gaussian, vmf
from pml_core.functional.parametrization import Parametrization


def _t(a):
    return torch.as_tensor(np.asarray(a), dtype=torch.float64)


def _np(t):
    return t.detach().cpu().numpy().astype(np.float64)


def _maybe_normalize(x, flag):
    return vmf.normalize(x) if flag else x


def _gaussian_logpdf(arrays, hp):
    norm = hp.get("normalize_inputs", False)
    mean = _maybe_normalize(_t(arrays["mu"]), norm)
    x = _maybe_normalize(_t(arrays["x"]), norm)
    log_var = torch.log(_t(arrays["var"]))
    return {"logpdf": _np(gaussian.gaussian_logpdf(mean, log_var, x)), "confidence": _np(gaussian.gaussian_confidence(log_var))}


def _gaussian_mls(arrays, hp):
    norm = hp.get("normalize_means", False)
    m1 = _maybe_normalize(_t(arrays["mu1"]), norm)
    m2 = _maybe_normalize(_t(arrays["mu2"]), norm)
    mls = gaussian.gaussian_mls(m1, torch.log(_t(arrays["var1"])), m2, torch.log(_t(arrays["var2"])))
    return {"mls": _np(mls)}


def _gaussian_kld(arrays, hp):
    mean = _maybe_normalize(_t(arrays["mu"]), hp.get("normalize_mean", False))
    return {"kld": _np(gaussian.gaussian_prior_kld(mean, torch.log(_t(arrays["var"]))))}


def _gaussian_product(arrays, hp):
    mean, log_var = gaussian.gaussian_pdf_product(
        _t(arrays["mu1"]), torch.log(_t(arrays["var1"])), _t(arrays["mu2"]), torch.log(_t(arrays["var2"]))
    )
    return {"mean": _np(mean), "var": _np(torch.exp(log_var))}


def _log_bessel(arrays, hp):
    return {"log_iv": _np(bessel.log_iv(_t(arrays["order"]), _t(arrays["z"])))}


def _log_normalizer(arrays, hp):
    return {"logc": _np(bessel.vmf_log_normalizer(_t(arrays["dim"]), _t(arrays["kappa"])))}


def _log_normalizer_approx(arrays, hp):
    return {"logc_approx": _np(bessel.vmf_log_normalizer_approx(_t(arrays["dim"]), _t(arrays["kappa"])))}


def _mean_resultant_length(arrays, hp):
    return {"mean_norm": _np(bessel.vmf_mean_resultant_length(_t(arrays["dim"]), _t(arrays["kappa"])))}


def _prior_kld(arrays, hp):
    reg = vmf.vmf_prior_regularizer(_t(arrays["dim"]), _t(arrays["kappa"]), rule="reference")
    return {"reg": _np(reg)}


def _vmf_logpdf(arrays, hp):
    mu = vmf.normalize(_t(arrays["mu"]))
    kappa = _t(arrays["kappa"])
    return {"logpdf": _np(vmf.vmf_logpdf(mu, kappa, _t(arrays["x"]))), "confidence": _np(torch.log(kappa))}


def _vmf_mls(arrays, hp):
    mls = vmf.vmf_mls(
        vmf.normalize(_t(arrays["mu1"])), _t(arrays["kappa1"]), vmf.normalize(_t(arrays["mu2"])), _t(arrays["kappa2"])
    )
    return {"mls": _np(mls)}


def _vmf_expected_cosine(arrays, hp):
    score = vmf.vmf_expected_cosine(
        vmf.normalize(_t(arrays["mu1"])), _t(arrays["kappa1"]), vmf.normalize(_t(arrays["mu2"])), _t(arrays["kappa2"])
    )
    return {"expected_cosine": _np(score)}


def _parametrization(arrays, hp):
    x = _t(arrays["x"])
    out = {}
    for cfg, spec in hp.items():
        p = Parametrization(
            spec["type"], spec.get("min", 0.0), spec.get("max"), spec.get("center", 0.0), spec.get("scale", 1.0)
        )
        out[f"positive_{cfg}"] = _np(p.positive(x))
        out[f"log_positive_{cfg}"] = _np(p.log_positive(x))
        out[f"ipositive_{cfg}"] = _np(p.ipositive(_t(arrays[f"y_{cfg}"])))
    return out


CASES = {
    "gaussian_logpdf_diag": _gaussian_logpdf,
    "gaussian_logpdf_scalar_normalized": _gaussian_logpdf,
    "gaussian_mls_diag": _gaussian_mls,
    "gaussian_mls_scalar_normalized": _gaussian_mls,
    "gaussian_prior_kld_diag": _gaussian_kld,
    "gaussian_prior_kld_scalar_normalized": _gaussian_kld,
    "gaussian_pdf_product_diag": _gaussian_product,
    "log_bessel_iv": _log_bessel,
    "vmf_log_normalizer": _log_normalizer,
    "vmf_log_normalizer_approx": _log_normalizer_approx,
    "vmf_mean_resultant_length": _mean_resultant_length,
    "vmf_prior_kld": _prior_kld,
    "vmf_expected_cosine_d16": _vmf_expected_cosine,
    "parametrization": _parametrization,
    **{f"vmf_logpdf_d{d}": _vmf_logpdf for d in (2, 3, 16, 128, 512)},
    **{f"vmf_mls_d{d}": _vmf_mls for d in (2, 3, 16, 128, 512)},
}
