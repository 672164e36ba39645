"""Gaussian (gmm) distribution: oracles (torch.distributions, quadrature) and docs/reference.md §11 examples."""

import math

import numpy as np
import pytest
import torch

from pml_core.distributions import Gaussian, create_distribution
from pml_core.errors import ConfigError

torch.manual_seed(0)


def _gmm(dim, covariance="spherical", **kw):
    return create_distribution("gmm", {"dim": dim, "covariance": covariance, **kw})


def _params(d, mean, var):
    mean = torch.as_tensor(mean, dtype=torch.float64)
    var = torch.as_tensor(var, dtype=torch.float64)
    return d.join(mean, torch.log(var))


@pytest.mark.parametrize("covariance", ["spherical", "diagonal"])
def test_log_prob_matches_torch_distributions(covariance):
    d = _gmm(5, covariance)
    params = torch.randn(4, 3, d.num_parameters, dtype=torch.float64)
    x = torch.randn(4, 3, 5, dtype=torch.float64)
    p = d.split(params)
    scale = torch.exp(0.5 * p.log_variance).expand(4, 3, 5)
    oracle = torch.distributions.Independent(torch.distributions.Normal(p.mean, scale), 1).log_prob(x)
    torch.testing.assert_close(d.log_prob(params, x), oracle)


def test_reference_logpdf_examples():
    d = _gmm(2)
    assert d.log_prob(_params(d, [0.0, 0.0], [1.0]), torch.tensor([0.0, 0.0], dtype=torch.float64)).item() == pytest.approx(-1.8378771, abs=1e-6)
    assert d.log_prob(_params(d, [1.0, 0.0], [0.5]), torch.tensor([0.0, 1.0], dtype=torch.float64)).item() == pytest.approx(-3.1447299, abs=1e-6)


def test_reference_logmls_self_example():
    d = _gmm(2, "diagonal")
    p = _params(d, [0.0, 1.0], [1.0, 2.0])
    assert d.logmls(p, p).item() == pytest.approx(-2.8775978, abs=1e-6)


def test_logmls_matches_quadrature_2d():
    d = _gmm(2, "diagonal")
    p1 = _params(d, [0.3, -0.2], [0.5, 1.2])
    p2 = _params(d, [-0.4, 0.6], [0.8, 0.3])
    grid = torch.linspace(-9, 9, 901, dtype=torch.float64)
    xx, yy = torch.meshgrid(grid, grid, indexing="ij")
    pts = torch.stack([xx, yy], -1)
    dens = torch.exp(d.log_prob(p1, pts) + d.log_prob(p2, pts))
    h = (grid[1] - grid[0]).item()
    integral = dens.sum().item() * h * h
    assert math.log(integral) == pytest.approx(d.logmls(p1, p2).item(), abs=1e-6)


def test_logmls_matches_quadrature_3d_isotropic():
    d = _gmm(3)
    p1 = _params(d, [0.3, -0.2, 0.5], [0.7])
    p2 = _params(d, [-0.4, 0.6, 0.1], [0.4])
    grid = torch.linspace(-7, 7, 141, dtype=torch.float64)
    pts = torch.stack(torch.meshgrid(grid, grid, grid, indexing="ij"), -1)
    dens = torch.exp(d.log_prob(p1, pts) + d.log_prob(p2, pts))
    h = (grid[1] - grid[0]).item()
    assert math.log(dens.sum().item() * h**3) == pytest.approx(d.logmls(p1, p2).item(), abs=1e-5)


def test_logmls_broadcast_shape():
    d = _gmm(3, "diagonal")
    a = torch.randn(5, 1, 3, d.num_parameters)
    b = torch.randn(1, 7, 3, d.num_parameters)
    assert d.logmls(a, b).shape == (5, 7, 3)


def test_logmls_monotone_in_distance_and_variance():
    d = _gmm(2)
    base = _params(d, [0.0, 0.0], [1.0])
    assert d.logmls(base, _params(d, [0.5, 0.0], [1.0])) < d.logmls(base, base)
    assert d.logmls(base, _params(d, [0.5, 0.0], [2.0])) < d.logmls(base, _params(d, [0.5, 0.0], [1.0]))


def test_pdf_product_example_and_consistency():
    d = _gmm(1)
    prod = d.split(d.pdf_product(_params(d, [1.0], [2.0]), _params(d, [2.0], [1.0])))
    assert prod.mean.item() == pytest.approx(5 / 3)
    assert torch.exp(prod.log_variance).item() == pytest.approx(2 / 3)
    d = _gmm(4, "diagonal")
    p1, p2 = torch.randn(2, d.num_parameters, dtype=torch.float64)
    x = torch.randn(6, 4, dtype=torch.float64)
    diff = d.log_prob(d.pdf_product(p1, p2), x) - d.log_prob(p1, x) - d.log_prob(p2, x)
    torch.testing.assert_close(diff, diff[:1].expand(6), atol=1e-5, rtol=0)
    # the dropped constant is the MLS
    assert -diff[0].item() == pytest.approx(d.logmls(p1, p2).item(), abs=1e-9)


def test_prior_kld():
    for covariance in ("spherical", "diagonal"):
        d = _gmm(2, covariance)
        var = [1.0] if covariance == "spherical" else [1.0, 1.0]
        assert d.prior_kld(_params(d, [0.0, 0.0], var)).item() == pytest.approx(0.0, abs=1e-7)
        assert d.prior_kld(_params(d, [0.0, 0.1], var)).item() > 0
    fixed = _gmm(2, 0.5)
    expected = 0.5 * (2 * 0.5 - 2 - 2 * math.log(0.5))
    assert fixed.prior_kld(torch.zeros(2, dtype=torch.float64)).item() == pytest.approx(expected)


@pytest.mark.parametrize("dim", [2, 3, 5, 1024, 4086])
def test_split_join_round_trip(dim):
    d = _gmm(dim, max_logivar=5)
    params = torch.randn(3, d.num_parameters, dtype=torch.float64)
    torch.testing.assert_close(d.join(*d.split(params)), params)


def test_defaults_and_layouts():
    d = create_distribution("gmm", None)
    assert d.dim == 512 and d.num_parameters == 513 and d.has_confidences and not d.is_spherical
    assert _gmm(4, "diagonal").num_parameters == 8 and _gmm(4, 0.3).num_parameters == 4
    h = torch.zeros(1, dtype=torch.float64)  # invlin(0) + e^-10
    p = torch.cat([torch.zeros(4, dtype=torch.float64), h])
    assert d.__class__ is Gaussian
    assert torch.exp(_gmm(4).split(p).log_variance).item() == pytest.approx(1 + math.exp(-10))
    assert _gmm(4).confidences(p).item() == pytest.approx(-math.log(1 + math.exp(-10)))
    with pytest.raises(ConfigError, match="max_logivar"):
        create_distribution("gmm", {"max_logivr": 3})


def test_spherical_normalises_mean_and_points():
    d = _gmm(3, spherical=True)
    params = torch.tensor([3.0, 0.0, 0.0, 0.0], dtype=torch.float64)
    torch.testing.assert_close(d.mean(params), torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64))
    assert d.log_prob(params, torch.tensor([5.0, 0, 0], dtype=torch.float64)).item() == pytest.approx(-1.5 * math.log(2 * math.pi * (1 + math.exp(-10))))


def test_sampling_shape_and_moments():
    d = _gmm(3, "diagonal")
    params = d.join(torch.tensor([[1.0, -2.0, 0.5]], dtype=torch.float64), torch.log(torch.tensor([[0.5, 2.0, 1.0]], dtype=torch.float64)))
    s = d.sample(params, (1, 200000))
    assert s.shape == (1, 200000, 3)
    torch.testing.assert_close(s.mean(1)[0], torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64), atol=0.02, rtol=0)
    torch.testing.assert_close(s.var(1)[0], torch.tensor([0.5, 2.0, 1.0], dtype=torch.float64), atol=0.03, rtol=0)


def test_sampling_consistency_with_mls():
    # E_{x ~ p}[p(x)] = exp(logMLS(p, p))
    d = _gmm(2, "diagonal")
    p = _params(d, [0.2, -0.1], [0.7, 1.3])
    x = d.sample(p, (400000,))
    mc = torch.exp(d.log_prob(p, x)).mean().item()
    assert mc == pytest.approx(math.exp(d.logmls(p, p).item()), abs=2e-3)


def test_normalizer_touches_only_means():
    d = _gmm(4)
    norm = d.make_normalizer()
    params = torch.randn(64, d.num_parameters) * 3 + 2
    out = norm(params)
    assert torch.allclose(out[:, 4], params[:, 4])
    assert out[:, :4].mean(0).abs().max() < 1e-2 and (out[:, :4].std(0, unbiased=False) - 1).abs().max() < 1e-2
    assert not norm.bn.weight.requires_grad and norm.bn.bias.requires_grad


def test_gradcheck_log_prob_and_mls():
    d = _gmm(3, "diagonal")
    p1 = torch.randn(2, d.num_parameters, dtype=torch.float64, requires_grad=True)
    p2 = torch.randn(2, d.num_parameters, dtype=torch.float64, requires_grad=True)
    x = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(d.log_prob, (p1, x))
    assert torch.autograd.gradcheck(d.logmls, (p1, p2))
