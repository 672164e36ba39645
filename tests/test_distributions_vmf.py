"""von Mises-Fisher distribution: oracles (scipy.stats, quadrature, mpmath), sampler statistics, gradients."""

import math

import mpmath
import numpy as np
import pytest
import torch
from scipy import integrate, stats

from pml_core.distributions import create_distribution
from pml_core.errors import ConfigError
from pml_core.functional import bessel, vmf


def _vmf(dim, **kw):
    return create_distribution("vmf", {"dim": dim, **kw})


def _params(d, mu, kappa):
    mu = vmf.normalize(torch.as_tensor(mu, dtype=torch.float64))
    return d.join(mu, torch.log(torch.as_tensor(kappa, dtype=torch.float64)))


@pytest.mark.parametrize("dim", [2, 3, 16, 128])
def test_log_prob_matches_scipy(dim):
    gen = np.random.default_rng(dim)
    d = _vmf(dim, max_logk=None)
    for kappa in (0.5, 5.0, 60.0):
        mu = gen.normal(size=dim)
        mu /= np.linalg.norm(mu)
        x = gen.normal(size=(5, dim))
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        oracle = stats.vonmises_fisher(mu, kappa).logpdf(x)
        ours = d.log_prob(_params(d, mu, kappa), torch.tensor(x)).numpy()
        finite = np.isfinite(oracle)
        assert finite.any()
        np.testing.assert_allclose(ours[finite], oracle[finite], rtol=1e-9, atol=1e-9)


def _mls_quadrature_2d(m1, k1, m2, k2):
    def f(t):
        x = np.array([math.cos(t), math.sin(t)])
        c = 1 / (2 * math.pi * float(mpmath.besseli(0, k1))) / (2 * math.pi * float(mpmath.besseli(0, k2)))
        return c * math.exp(k1 * x @ m1 + k2 * x @ m2)

    return math.log(integrate.quad(f, 0, 2 * math.pi, epsabs=0, epsrel=1e-12, limit=200)[0])


def test_mls_matches_quadrature_2d():
    d = _vmf(2, max_logk=None)
    for (a1, k1), (a2, k2) in [((0.3, 2.0), (1.5, 5.0)), ((0.0, 0.7), (math.pi, 0.7)), ((1.0, 10.0), (1.2, 3.0))]:
        m1, m2 = np.array([math.cos(a1), math.sin(a1)]), np.array([math.cos(a2), math.sin(a2)])
        ours = d.logmls(_params(d, m1, k1), _params(d, m2, k2)).item()
        assert ours == pytest.approx(_mls_quadrature_2d(m1, k1, m2, k2), abs=1e-8)


def test_mls_matches_quadrature_3d():
    d = _vmf(3, max_logk=None)
    m1 = np.array([0.0, 0.0, 1.0])
    m2 = np.array([math.sin(1.0), 0.0, math.cos(1.0)])
    k1, k2 = 3.0, 7.0
    c = lambda k: k / (4 * math.pi * math.sinh(k))  # noqa: E731

    def f(phi, theta):
        x = np.array([math.sin(theta) * math.cos(phi), math.sin(theta) * math.sin(phi), math.cos(theta)])
        return c(k1) * c(k2) * math.exp(k1 * x @ m1 + k2 * x @ m2) * math.sin(theta)

    integral = integrate.dblquad(f, 0, math.pi, 0, 2 * math.pi, epsabs=0, epsrel=1e-10)[0]
    assert d.logmls(_params(d, m1, k1), _params(d, m2, k2)).item() == pytest.approx(math.log(integral), abs=1e-7)


@pytest.mark.parametrize("dim", [2, 3, 16, 512])
def test_mls_antipodal_equal_kappa_is_finite(dim):
    d = _vmf(dim, max_logk=None)
    mu = torch.zeros(dim, dtype=torch.float64)
    mu[0] = 1
    k = torch.tensor(4.0, dtype=torch.float64)
    p1 = d.join(mu, torch.log(k)).requires_grad_(True)
    p2 = d.join(-mu, torch.log(k))
    out = d.logmls(p1, p2)
    expected = 2 * bessel.vmf_log_normalizer(dim, k).item() + bessel.log_sphere_area(dim)
    assert out.item() == pytest.approx(expected, rel=1e-12)
    out.backward()
    assert torch.isfinite(p1.grad).all()


def test_mean_norm_and_direction():
    d = _vmf(5, max_logk=None)
    r = torch.tensor([1.0, -2.0, 0.5, 0.0, 3.0], dtype=torch.float64)
    for kappa in (0.3, 4.0, 50.0):
        m = d.mean(d.join(vmf.normalize(r), torch.log(torch.tensor(kappa, dtype=torch.float64))))
        exact = float(mpmath.besseli(2.5, kappa) / mpmath.besseli(1.5, kappa))
        assert m.norm().item() == pytest.approx(exact, rel=1e-12)
        torch.testing.assert_close(vmf.normalize(m), vmf.normalize(r))


@pytest.mark.parametrize("k", ["separate", "norm", 1.0, 2.0])
@pytest.mark.parametrize("dim", [2, 3, 17])
def test_split_join_round_trip(k, dim):
    d = _vmf(dim, k=k)
    params = torch.randn(4, d.num_parameters, dtype=torch.float64)
    once = d.join(*d.split(params))
    torch.testing.assert_close(d.join(*d.split(once)), once)
    torch.testing.assert_close(d.split(once).mean, d.split(params).mean)
    torch.testing.assert_close(d.split(once).log_kappa, d.split(params).log_kappa)


def test_prior_regularizer_and_true_kl():
    d = _vmf(2, max_logk=None)
    mu = torch.tensor([1.0, 0.0], dtype=torch.float64)
    assert d.prior_kld(d.join(mu, torch.log(torch.tensor(1e-6, dtype=torch.float64)))).item() == pytest.approx(1e-6, abs=1e-12)
    k = torch.tensor(1e6, dtype=torch.float64)
    expected = bessel.vmf_log_normalizer(2, k).item() + bessel.log_sphere_area(2) + 1e6
    assert d.prior_kld(d.join(mu, torch.log(k))).item() == pytest.approx(expected, abs=1e-9)  # kappa + logC cancels 1e6
    # true KL against mpmath, D = 512, kappa = 5 (where the reference's fallback is inexact)
    d512 = _vmf(512, prior="kl")
    mu = vmf.normalize(torch.ones(512, dtype=torch.float64))
    p = d512.join(mu, torch.log(torch.tensor(5.0, dtype=torch.float64)))
    v = mpmath.mpf(255)
    i_v, i_v1 = mpmath.besseli(v, 5), mpmath.besseli(v + 1, 5)
    logc = v * mpmath.log(5) - 256 * mpmath.log(2 * mpmath.pi) - mpmath.log(i_v)
    log_area = mpmath.log(2) + 256 * mpmath.log(mpmath.pi) - mpmath.loggamma(256)
    exact = float(5 * i_v1 / i_v + logc + log_area)
    assert d512.prior_kld(p).item() == pytest.approx(exact, rel=1e-9)
    assert d512.true_kld(p).item() == pytest.approx(exact, rel=1e-9)
    exact_reg = float(5 + logc + log_area) - (float(mpmath.mpf("1e-6")) * 0)  # logC(1e-6) ~ -log area
    assert _vmf(512).regularizer(p).item() == pytest.approx(exact_reg, abs=1e-9)


def test_logpdf_extremes():
    d = _vmf(3, max_logk=None)
    mu = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)
    sharp = d.join(mu, torch.log(torch.tensor(1e8, dtype=torch.float64)))
    assert d.log_prob(sharp, mu).item() > 4
    assert d.log_prob(sharp, torch.tensor([0.0, 1.0, 1.0], dtype=torch.float64)).item() < -10
    flat = d.join(mu, torch.log(torch.tensor(1e-8, dtype=torch.float64)))
    assert d.log_prob(flat, mu).item() == pytest.approx(d.log_prob(flat, -mu).item(), abs=1e-7)


def test_defaults_normalizer_and_errors():
    d = create_distribution("vmf", None)
    assert d.dim == 512 and d.num_parameters == 513 and d.is_spherical and d.has_confidences
    assert _vmf(4, k="norm").make_normalizer() is None and _vmf(4).make_normalizer() is not None
    # kappa <= e^10 by default
    params = torch.cat([torch.tensor([1.0, 0, 0, 0]), torch.tensor([-1e9])])
    assert _vmf(4).confidences(params).item() == pytest.approx(10, abs=1e-4)
    with pytest.raises(ConfigError, match="max_logk"):
        create_distribution("vmf", {"max_logkk": 3})
    with pytest.raises(ConfigError):
        _vmf(1)


def test_gradcheck_log_prob_and_mls():
    for dim in (3, 16):
        d = _vmf(dim)
        p1 = torch.randn(2, d.num_parameters, dtype=torch.float64, requires_grad=True)
        p2 = torch.randn(2, d.num_parameters, dtype=torch.float64, requires_grad=True)
        x = torch.randn(2, dim, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(d.log_prob, (p1, x))
        assert torch.autograd.gradcheck(d.logmls, (p1, p2))


@pytest.mark.parametrize("dim", [3, 16, 128, 512])
def test_sampler_mean_cosine_within_4_standard_errors(dim):
    gen = torch.Generator().manual_seed(dim)
    n = 4000
    mu = vmf.normalize(torch.randn(dim, dtype=torch.float64, generator=gen))
    for kappa in (1.0, 20.0, 200.0, 1e4):
        torch.manual_seed(int(kappa) + dim)
        x = vmf.vmf_sample(mu.expand(n, dim), torch.full((n,), kappa, dtype=torch.float64), generator=gen)
        assert torch.allclose(x.norm(dim=-1), torch.ones(n, dtype=torch.float64))
        w = x @ mu
        a = bessel.vmf_mean_resultant_length(dim, torch.tensor(kappa, dtype=torch.float64)).item()
        se = w.std().item() / math.sqrt(n)
        assert abs(w.mean().item() - a) < 4 * se, (dim, kappa, w.mean().item(), a)


def _marginal_cdf(dim, kappa):
    """CDF of w = <x, mu>: density proportional to exp(k w) (1 - w^2)^((D-3)/2) on [-1, 1]."""
    if dim == 3:
        return lambda w: np.expm1(kappa * (np.asarray(w) - -1.0)) / np.expm1(2 * kappa)
    grid = np.linspace(-1, 1, 200001)
    log_dens = kappa * (grid - 1) + (dim - 3) / 2 * np.log(np.clip(1 - grid**2, 1e-300, None))
    dens = np.exp(log_dens - log_dens.max())
    cdf = integrate.cumulative_trapezoid(dens, grid, initial=0)
    cdf /= cdf[-1]
    return lambda w: np.interp(w, grid, cdf)


@pytest.mark.parametrize("dim,kappa", [(3, 0.5), (3, 20.0), (16, 1.0), (16, 20.0), (16, 200.0)])
def test_sampler_goodness_of_fit(dim, kappa):
    gen = torch.Generator().manual_seed(123)
    torch.manual_seed(7)
    w = vmf.vmf_sample_cosine(dim, torch.full((5000,), kappa, dtype=torch.float64), generator=gen).numpy()
    assert stats.kstest(w, _marginal_cdf(dim, kappa)).pvalue > 1e-3


def test_sampler_tangent_part_is_uniform_and_gradients_flow():
    dim, n = 4, 20000
    mu = vmf.normalize(torch.tensor([0.3, -1.0, 0.2, 0.5], dtype=torch.float64)).requires_grad_(True)
    kappa = torch.tensor(5.0, dtype=torch.float64, requires_grad=True)
    x = vmf.vmf_sample(mu.expand(n, dim), kappa.expand(n))
    # E[x] = A(k) mu exactly when the tangent part is uniform
    a = bessel.vmf_mean_resultant_length(dim, kappa.detach()).item()
    torch.testing.assert_close(x.mean(0).detach(), a * mu.detach(), atol=4 * 1 / math.sqrt(n) * 2, rtol=0)
    x.sum().backward()
    assert torch.isfinite(mu.grad).all() and mu.grad.abs().sum() > 0
    assert torch.isfinite(kappa.grad)


def test_distribution_sample_shapes():
    d = _vmf(8)
    params = torch.randn(3, d.num_parameters)
    assert d.sample(params, (3, 5)).shape == (3, 5, 8)
    assert d.sample(params[:, None], (3, 2, 4)).shape == (3, 2, 4, 8)
