"""von Mises-Fisher densities on the unit sphere S^{D-1} in R^D (docs/reference.md §1.5).

Conventions: ``mu`` (..., D) unit mean directions (callers normalise), ``kappa`` (...) >= 0
concentrations; leading axes broadcast. Normalisers come from ``pml_core.functional.bessel`` (torch,
float64 inside, on device). ``rule`` selects the log-Bessel evaluation: "exact" (default) or
"reference" (reproduces the reference's SciPy underflow fallback).
"""

from __future__ import annotations

import math

import torch

from .bessel import log_sphere_area, vmf_log_normalizer, vmf_mean_resultant_length

__all__ = [
    "normalize",
    "vmf_logpdf",
    "vmf_mls",
    "vmf_prior_regularizer",
    "vmf_kl_to_uniform",
    "vmf_expected_cosine",
    "vmf_pdf_product",
    "vmf_sample",
    "vmf_sample_cosine",
    "REGULARIZER_KAPPA0",
]

REGULARIZER_KAPPA0 = 1e-6


def normalize(x: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """x / max(|x|, eps) along the last axis (torch.nn.functional.normalize semantics). (..., D) -> (..., D)."""
    return x / torch.clamp(torch.linalg.vector_norm(x, dim=-1, keepdim=True), min=eps)


def vmf_logpdf(mu: torch.Tensor, kappa: torch.Tensor, x: torch.Tensor, rule: str = "exact") -> torch.Tensor:
    """log C_D(kappa) + kappa <mu, normalize(x)>. Shapes: mu (..., D), kappa (...), x (..., D) -> (...)."""
    dim = mu.shape[-1]
    cos = (mu * normalize(x)).sum(-1)
    return vmf_log_normalizer(dim, kappa, rule) + kappa * cos


def _safe_norm(x: torch.Tensor) -> torch.Tensor:
    """|x| along the last axis with a finite (zero) gradient at x = 0."""
    sq = (x * x).sum(-1)
    positive = sq > 0
    return torch.where(positive, torch.sqrt(torch.where(positive, sq, torch.ones_like(sq))), torch.zeros_like(sq))


def vmf_mls(mu1, kappa1, mu2, kappa2, rule: str = "exact") -> torch.Tensor:
    """Log mutual likelihood score log int_S vMF(x; mu1, k1) vMF(x; mu2, k2) dx
    = log C_D(k1) + log C_D(k2) - log C_D(|k1 mu1 + k2 mu2|).

    The k -> 0 limit (opposite means, equal concentrations) is handled exactly for every D >= 2,
    gradients included. Shapes: mu (..., D), kappa (...) -> (...) (broadcast).
    """
    dim = torch.broadcast_shapes(mu1.shape, mu2.shape)[-1]
    k = _safe_norm(kappa1.unsqueeze(-1) * mu1 + kappa2.unsqueeze(-1) * mu2)
    return vmf_log_normalizer(dim, kappa1, rule) + vmf_log_normalizer(dim, kappa2, rule) - vmf_log_normalizer(dim, k, rule)


def vmf_pdf_product(mu1, kappa1, mu2, kappa2) -> tuple[torch.Tensor, torch.Tensor]:
    """Renormalised product of two vMF densities: kappa = |k1 mu1 + k2 mu2|, mu = (k1 mu1 + k2 mu2) / kappa.

    Shapes: mu (..., D), kappa (...) -> (mu (..., D), kappa (...)).
    """
    s = kappa1.unsqueeze(-1) * mu1 + kappa2.unsqueeze(-1) * mu2
    return normalize(s), _safe_norm(s)


def vmf_prior_regularizer(dim, kappa: torch.Tensor, rule: str = "exact") -> torch.Tensor:
    """The reference's vMF "prior KL" (a concentration regulariser, not a KL divergence):
    kappa + log C_D(kappa) - log C_D(1e-6). Shape (...) -> (...).
    """
    kappa0 = torch.full_like(kappa, REGULARIZER_KAPPA0)
    return kappa + vmf_log_normalizer(dim, kappa, rule) - vmf_log_normalizer(dim, kappa0, rule)


def vmf_kl_to_uniform(dim, kappa: torch.Tensor, rule: str = "exact") -> torch.Tensor:
    """True KL(vMF(mu, kappa) || uniform on S^{D-1}) = kappa A_D(kappa) + log C_D(kappa) + log|S^{D-1}|.

    Shape (...) -> (...), >= 0.
    """
    return (
        kappa * vmf_mean_resultant_length(dim, kappa, rule)
        + vmf_log_normalizer(dim, kappa, rule)
        + log_sphere_area(dim)
    )


def vmf_expected_cosine(mu1, kappa1, mu2, kappa2, rule: str = "exact") -> torch.Tensor:
    """E[<x1, x2>] for independent x_i ~ vMF(mu_i, k_i) = A_D(k1) A_D(k2) <mu1, mu2> (samples are unit
    vectors, so this is the expected cosine). Shapes: mu (..., D), kappa (...) -> (...).
    """
    dim = torch.broadcast_shapes(mu1.shape, mu2.shape)[-1]
    a1 = vmf_mean_resultant_length(dim, kappa1, rule)
    a2 = vmf_mean_resultant_length(dim, kappa2, rule)
    return a1 * a2 * (mu1 * mu2).sum(-1)


def _wood_b(dim: int, kappa: torch.Tensor) -> torch.Tensor:
    """Wood's envelope parameter b = (sqrt(4 k^2 + (m-1)^2) - 2k)/(m-1), in cancellation-free form."""
    m1 = dim - 1
    return m1 / (2 * kappa + torch.sqrt(4 * kappa * kappa + m1 * m1))


def vmf_sample_cosine(
    dim: int, kappa: torch.Tensor, proposals: int = 4, max_rounds: int = 1000, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Draw w = <x, mu> for x ~ vMF(mu, kappa) on S^{dim-1}, one per entry of ``kappa`` (...) -> (...).

    D = 3: inverse CDF w = 1 + log1p(-(1-u)(1 - e^{-2k})) / k. Otherwise Wood's (1994) rejection
    sampler with the exact envelope parameter b for every kappa, ``proposals`` candidates per pending
    entry and round (vectorised, all on the device). Differentiable in kappa through b (as the reference;
    no implicit reparametrisation gradient). Computed in float64, returned in kappa's dtype.
    """
    dtype = kappa.dtype
    k = kappa.to(torch.float64)
    device = k.device
    if dim < 2:
        raise ValueError(f"vMF needs dim >= 2, got {dim}")
    if dim == 3:
        u = torch.rand(k.shape, dtype=torch.float64, device=device, generator=generator)
        kc = torch.clamp(k, min=1e-30)
        w = 1 + torch.log1p(-(1 - u) * -torch.expm1(-2 * kc)) / kc
        return torch.clamp(w, -1.0, 1.0).to(dtype)
    flat = k.detach().reshape(-1)
    n = flat.numel()
    m1 = dim - 1
    b = _wood_b(dim, flat).unsqueeze(-1)  # (N, 1)
    kap = flat.unsqueeze(-1)
    alpha = torch.full((n, proposals), m1 / 2, dtype=torch.float64, device=device)
    chosen = torch.full((n,), 0.5, dtype=torch.float64, device=device)
    done = torch.zeros(n, dtype=torch.bool, device=device)
    for _ in range(max_rounds):
        if generator is None:
            g1 = torch._standard_gamma(alpha)
            g2 = torch._standard_gamma(alpha)
        else:  # _standard_gamma has no generator argument: Beta from uniforms via a seeded sub-stream
            seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device).item())
            with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
                torch.manual_seed(seed)
                g1 = torch._standard_gamma(alpha)
                g2 = torch._standard_gamma(alpha)
        z = g1 / (g1 + g2)
        u = torch.rand((n, proposals), dtype=torch.float64, device=device, generator=generator)
        denom = 1 - (1 - b) * z
        # log acceptance ratio, rewritten without cancellation (Wood's k w + (m-1) log(1 - x0 w) - c):
        log_ratio = kap * (2 * b * (1 - 2 * z) / ((1 + b) * denom)) + m1 * torch.log((1 + b) / (2 * denom))
        accept = torch.log(u) <= log_ratio
        first = torch.argmax(accept.to(torch.int8), dim=-1)
        any_acc = accept.any(-1)
        z_first = z.gather(-1, first.unsqueeze(-1)).squeeze(-1)
        take = any_acc & ~done
        chosen = torch.where(take, z_first, chosen)
        done = done | any_acc
        if bool(done.all()):
            break
    else:  # pragma: no cover - acceptance probability is bounded below, this needs astronomically bad luck
        raise RuntimeError("vMF rejection sampler did not converge")
    z = chosen.reshape(k.shape)
    b = _wood_b(dim, k)  # differentiable in kappa
    return ((1 - (1 + b) * z) / (1 - (1 - b) * z)).to(dtype)


def vmf_sample(mu: torch.Tensor, kappa: torch.Tensor, generator: torch.Generator | None = None, proposals: int = 4) -> torch.Tensor:
    """One draw from vMF(mu, kappa) per row. Shapes: mu (..., D) unit, kappa (...) -> (..., D).

    w = <x, mu> from ``vmf_sample_cosine``; the tangent part is a uniform direction orthogonal to e1;
    the point x = (w, sqrt(1 - w^2) v) is mapped by an orthogonal map Q with Q e1 = mu: the Householder
    reflection along e1 - mu when mu_1 < 0, and minus the reflection along e1 + mu otherwise (so the
    reflection vector never has a small norm). Gradients reach mu through Q and kappa through w.
    """
    shape = torch.broadcast_shapes(mu.shape[:-1], kappa.shape)
    dim = mu.shape[-1]
    mu = mu.expand(*shape, dim)
    kappa = kappa.expand(shape)
    w = vmf_sample_cosine(dim, kappa, proposals=proposals, generator=generator).to(mu.dtype).unsqueeze(-1)
    v = torch.randn(*shape, dim - 1, dtype=mu.dtype, device=mu.device, generator=generator)
    v = normalize(v)
    radial = torch.sqrt(torch.clamp(1 - w * w, min=0.0))
    x = torch.cat([w, radial * v], dim=-1)
    sign = torch.where(mu[..., :1] >= 0, 1.0, -1.0).to(mu.dtype)  # (..., 1)
    e1 = torch.zeros_like(mu)
    e1[..., 0] = 1
    u = e1 + sign * mu
    norm2 = (u * u).sum(-1, keepdim=True)  # >= 2
    reflected = x - 2 * (x * u).sum(-1, keepdim=True) / norm2 * u
    return -sign * reflected
