"""log I_v(z), vMF normaliser and mean resultant length against 30-digit mpmath values."""

import math

import mpmath
import numpy as np
import pytest
import torch

from pml_core.functional import bessel

mpmath.mp.dps = 30

ORDERS = [0.0, 0.5, 1.0, 2.5, 7.0, 19.5, 20.0, 31.0, 63.0, 255.0, 1000.0, 2048.0]
ARGS = [1e-8, 1e-3, 0.1, 1.0, 5.0, 7.99, 8.01, 12.8, 19.99, 20.01, 50.0, 333.0, 2000.0, 3e4, 1e6]


def _exact_log_iv(v, z):
    return float(mpmath.log(mpmath.besseli(v, z, maxterms=10**6)))


@pytest.fixture(scope="module")
def grid():
    v = np.repeat(ORDERS, len(ARGS))
    z = np.tile(ARGS, len(ORDERS))
    exact = np.array([_exact_log_iv(a, b) for a, b in zip(v, z)])
    return v, z, exact


def test_log_iv_matches_mpmath_to_1e_10(grid):
    v, z, exact = grid
    out = bessel.log_iv(torch.tensor(v), torch.tensor(z, dtype=torch.float64)).numpy()
    err = np.abs(out - exact)
    assert np.all(err <= 1e-10 * np.abs(exact) + 1e-13), (v[err.argmax()], z[err.argmax()], err.max())


def test_log_iv_random_points_match_mpmath():
    gen = np.random.default_rng(0)
    v = gen.uniform(0, 2048, 40)
    z = 10 ** gen.uniform(-8, 6, 40)
    exact = np.array([_exact_log_iv(a, b) for a, b in zip(v, z)])
    out = bessel.log_iv(torch.tensor(v), torch.tensor(z)).numpy()
    assert np.all(np.abs(out - exact) <= 1e-10 * np.abs(exact) + 1e-13)


def test_tiny_argument_keeps_relative_precision():
    # log I_0(1e-8) = 2.5e-17: needs log1p inside the series.
    out = bessel.log_iv(0.0, torch.tensor([1e-8], dtype=torch.float64)).item()
    assert out == pytest.approx(2.5e-17, rel=1e-10)


def test_gradient_is_ratio_plus_v_over_z():
    for v, z in [(0.0, 0.3), (2.5, 7.0), (7.0, 150.0), (255.0, 12.0), (255.0, 4000.0)]:
        zt = torch.tensor(z, dtype=torch.float64, requires_grad=True)
        bessel.log_iv(v, zt).backward()
        expected = float(mpmath.besseli(v + 1, z, maxterms=10**6) / mpmath.besseli(v, z, maxterms=10**6)) + v / z
        assert zt.grad.item() == pytest.approx(expected, rel=1e-9)


def test_gradcheck_log_iv_and_normaliser():
    z = torch.tensor([0.05, 1.3, 15.0, 25.0, 300.0], dtype=torch.float64, requires_grad=True)
    for v in (0.0, 0.5, 7.0, 63.0):
        assert torch.autograd.gradcheck(lambda t: bessel.log_iv(v, t), (z,))
    assert torch.autograd.gradgradcheck(lambda t: bessel.log_iv(2.5, t), (z,))
    for d in (2, 3, 16, 512):
        assert torch.autograd.gradcheck(lambda t: bessel.vmf_log_normalizer(d, t), (z,))
        assert torch.autograd.gradcheck(lambda t: bessel.vmf_mean_resultant_length(d, t), (z,))


def test_special_values_and_dtypes():
    z = torch.tensor([0.0, -1.0, math.inf], dtype=torch.float64)
    out = bessel.log_iv(0.0, z)
    assert out[0].item() == 0.0 and math.isnan(out[1].item()) and out[2].item() == math.inf
    assert bessel.log_iv(1.0, torch.tensor([0.0])).item() == -math.inf
    assert bessel.log_iv(3.0, torch.tensor([2.0], dtype=torch.float32)).dtype == torch.float32
    # integer concentrations are not truncated
    assert bessel.log_iv(1.0, torch.tensor([3])).item() == pytest.approx(_exact_log_iv(1.0, 3.0), rel=1e-12)


# Worked examples of docs/reference.md §1.5 (float64 table).
@pytest.mark.parametrize(
    "dim,kappa,logc,mean_norm",
    [
        (2, 1.0, -2.073791, 0.446390),
        (2, 10.0, -9.780849, 0.948600),
        (3, 1.0, -2.692464, 0.313035),
        (3, 10.0, -9.535292, 0.900000),
        (128, 10.0, 126.663996, 0.077661),
        (128, 100.0, 95.061469, 0.548329),
        (128, 1000.0, -676.078023, 0.938484),
        (512, 100.0, 858.379265, 0.188405),
        (512, 1000.0, 327.709187, 0.776531),
    ],
)
def test_reference_table(dim, kappa, logc, mean_norm):
    k = torch.tensor([kappa], dtype=torch.float64)
    assert bessel.vmf_log_normalizer(dim, k).item() == pytest.approx(logc, abs=2e-6)
    assert bessel.vmf_mean_resultant_length(dim, k).item() == pytest.approx(mean_norm, abs=2e-6)


def test_uniform_limit_and_sphere_area():
    for d in (2, 3, 128, 512):
        k = torch.tensor([0.0, 1e-6], dtype=torch.float64)
        out = bessel.vmf_log_normalizer(d, k)
        assert out[0].item() == pytest.approx(-bessel.log_sphere_area(d), rel=1e-14)
        assert out[1].item() == pytest.approx(-bessel.log_sphere_area(d), rel=1e-9)


def test_reference_rule_reproduces_underflow_fallback():
    # ive(255, 5) underflows in SciPy: the reference uses the first series term; exact differs by ~k^2/1024.
    z = torch.tensor([5.0, 50.0], dtype=torch.float64)
    ref = bessel.log_iv(255.0, z, rule="reference")
    exact = bessel.log_iv(255.0, z)
    first = 255 * math.log(2.5) - math.lgamma(256)
    assert ref[0].item() == pytest.approx(first, rel=1e-14)
    assert exact[0].item() - ref[0].item() == pytest.approx(25 / 1024, rel=0.05)
    assert ref[1].item() == exact[1].item()
    with pytest.raises(ValueError):
        bessel.log_iv(1.0, z, rule="scipy")
