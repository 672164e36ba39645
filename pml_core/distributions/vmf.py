"""von Mises-Fisher embedding (config name ``vmf``; docs/reference.md §1.5)."""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from ..errors import ConfigError
from ..functional import vmf as F
from ..functional.bessel import RULES, vmf_mean_resultant_length
from ..functional.parametrization import Parametrization
from .common import BatchNormNormalizer, check_last_dim, expand_for_sample

__all__ = ["VonMisesFisher"]

PRIORS = ("regularizer", "kl")


class VMFParams(NamedTuple):
    mean: torch.Tensor  # (..., D) unit mean direction
    log_kappa: torch.Tensor  # (...) log concentration


class VonMisesFisher:
    """vMF(mu, kappa) on S^{D-1}.

    Layouts (``k``): "separate" -> [r (D) | h (1)], mu = norm(r), 1/kappa = positive(h) with
    min = e^-max_logk; "norm" -> r (D), kappa = |r| (the vMF-loss layout); a number -> r (D), fixed kappa.
    ``bessel`` = "exact" (default, device-side log I_v) or "reference" (the reference's SciPy underflow
    fallback, for reproducing its numbers). ``prior`` = "regularizer" (default, the reference's
    kappa + logC(kappa) - logC(1e-6)) or "kl" (the true KL to the uniform distribution) for ``prior_kld``.
    """

    DEFAULTS = {
        "dim": 512,
        "k": "separate",
        "parametrization": "invlin",
        "max_logk": 10,
        "logiv_type": "default",
        "bessel": "exact",
        "prior": "regularizer",
    }

    def __init__(self, dim=512, k="separate", parametrization="invlin", max_logk=10, logiv_type="default", bessel="exact", prior="regularizer"):
        self.dim = int(dim)
        if self.dim < 2:
            raise ConfigError(f"vmf dim must be >= 2, got {dim}")
        if isinstance(k, str):
            if k not in ("separate", "norm"):
                raise ConfigError(f"vmf k must be 'separate', 'norm' or a positive number, got {k!r}")
            self.fixed_kappa = None
        else:
            if not float(k) > 0:
                raise ConfigError(f"vmf fixed k must be a positive number, got {k!r}")
            self.fixed_kappa = float(k)
        self.k = k
        if logiv_type != "default":
            raise ConfigError(
                f"vmf logiv_type {logiv_type!r} is not supported (only 'default'; the reference's 'scl' variant was experimental). "
                "Choose the log-Bessel evaluation with bessel='exact' or 'reference'."
            )
        if bessel not in RULES:
            raise ConfigError(f"vmf bessel must be one of {RULES}, got {bessel!r}")
        if prior not in PRIORS:
            raise ConfigError(f"vmf prior must be one of {PRIORS}, got {prior!r}")
        self.logiv_type = logiv_type
        self.bessel = bessel
        self.prior = prior
        self.parametrization = Parametrization(
            parametrization, min=math.exp(-max_logk) if (k == "separate" and max_logk is not None) else 0.0
        )

    def __repr__(self):
        return f"VonMisesFisher(dim={self.dim}, k={self.k!r}, bessel={self.bessel!r})"

    is_spherical = True
    has_confidences = True

    @property
    def num_parameters(self) -> int:
        return self.dim + (1 if self.k == "separate" else 0)

    def split(self, params: torch.Tensor) -> VMFParams:
        """(..., P) -> VMFParams(mean (..., D) unit, log_kappa (...))."""
        check_last_dim(params, self.num_parameters, "VonMisesFisher")
        r = params[..., : self.dim]
        mean = F.normalize(r)
        if self.k == "separate":
            log_kappa = -self.parametrization.log_positive(params[..., self.dim])
        elif self.k == "norm":
            log_kappa = torch.log(torch.linalg.vector_norm(r, dim=-1))
        else:
            log_kappa = torch.full(params.shape[:-1], math.log(self.fixed_kappa), dtype=params.dtype, device=params.device)
        return VMFParams(mean, log_kappa)

    def join(self, mean: torch.Tensor, log_kappa: torch.Tensor | None = None) -> torch.Tensor:
        """mean (..., D) unit, log_kappa (...) -> params (..., P) (log_kappa ignored for a fixed k)."""
        if self.fixed_kappa is not None:
            return mean
        if log_kappa is None:
            raise ValueError("VonMisesFisher.join needs log_kappa for a learned concentration")
        if self.k == "norm":
            return mean * torch.exp(log_kappa).unsqueeze(-1)
        hidden = self.parametrization.ipositive(torch.exp(-log_kappa))
        hidden = hidden.expand(mean.shape[:-1]).unsqueeze(-1)
        return torch.cat([mean, hidden], dim=-1)

    def kappa(self, params):
        """(..., P) -> (...)."""
        return torch.exp(self.split(params).log_kappa)

    def mean(self, params):
        """E[x] = A_D(kappa) mu (not unit norm). (..., P) -> (..., D)."""
        p = self.split(params)
        a = vmf_mean_resultant_length(self.dim, torch.exp(p.log_kappa), self.bessel)
        return a.unsqueeze(-1) * p.mean

    def mode(self, params):
        """mu. (..., P) -> (..., D)."""
        return self.split(params).mean

    def confidences(self, params):
        """log kappa. (..., P) -> (...)."""
        return self.split(params).log_kappa

    def log_prob(self, params, points):
        """params (..., P), points (..., D) (normalised first) -> (...)."""
        p = self.split(params)
        return F.vmf_logpdf(p.mean, torch.exp(p.log_kappa), points, self.bessel)

    logpdf = log_prob

    def sample(self, params, size, generator=None):
        """Exact samples (*size, D) (Wood's sampler, correct envelope for every kappa and D)."""
        p = self.split(expand_for_sample(params, size))
        return F.vmf_sample(p.mean, torch.exp(p.log_kappa), generator=generator)

    def prior_kld(self, params):
        """The configured prior term: the reference regulariser (default) or the true KL. (..., P) -> (...)."""
        if self.prior == "kl":
            return self.true_kld(params)
        return self.regularizer(params)

    def regularizer(self, params):
        """kappa + logC(kappa) - logC(1e-6) (the reference's vMF "prior KLD"). (..., P) -> (...)."""
        kappa = torch.exp(self.split(params).log_kappa)
        return F.vmf_prior_regularizer(self.dim, kappa, self.bessel)

    def true_kld(self, params):
        """KL(vMF || uniform) = kappa A_D(kappa) + logC(kappa) + log|S^{D-1}|. (..., P) -> (...)."""
        kappa = torch.exp(self.split(params).log_kappa)
        return F.vmf_kl_to_uniform(self.dim, kappa, self.bessel)

    def logmls(self, params1, params2):
        """logC(k1) + logC(k2) - logC(|k1 mu1 + k2 mu2|); leading axes broadcast -> (...)."""
        p1, p2 = self.split(params1), self.split(params2)
        return F.vmf_mls(p1.mean, torch.exp(p1.log_kappa), p2.mean, torch.exp(p2.log_kappa), self.bessel)

    def expected_cosine(self, params1, params2):
        """Closed-form E[<x1, x2>] = A(k1) A(k2) <mu1, mu2>; leading axes broadcast -> (...)."""
        p1, p2 = self.split(params1), self.split(params2)
        return F.vmf_expected_cosine(p1.mean, torch.exp(p1.log_kappa), p2.mean, torch.exp(p2.log_kappa), self.bessel)

    def pdf_product(self, params1, params2):
        """Params of the renormalised product (same layout). Not available for a fixed k."""
        if self.fixed_kappa is not None:
            raise ConfigError("vmf pdf_product needs a learned concentration (k 'separate' or 'norm'), not a fixed number")
        p1, p2 = self.split(params1), self.split(params2)
        mean, kappa = F.vmf_pdf_product(p1.mean, torch.exp(p1.log_kappa), p2.mean, torch.exp(p2.log_kappa))
        return self.join(mean, torch.log(kappa))

    def make_normalizer(self):
        """None for k="norm" (BatchNorm would destroy the norm); otherwise BatchNorm over the D direction entries."""
        if self.k == "norm":
            return None
        return BatchNormNormalizer(self.num_parameters, 0, self.dim)

    def statistics(self, params) -> dict:
        s = torch.exp(-0.5 * self.split(params).log_kappa.detach())
        return {"vmf_sqrt_inv_k/mean": s.mean().item(), "vmf_sqrt_inv_k/std": s.std().item() if s.numel() > 1 else 0.0}
