"""SPE's paper estimator evaluates every class at every product sample through matrix products."""

import pytest
import torch

from pml_core.functional.heads_spe import gaussian_logpdf, pairwise_gaussian_logpdf


@pytest.mark.parametrize("variance_width", [1, 8])
def test_pairwise_logpdf_equals_the_broadcast_formula(variance_width):
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(3, 4, 5, 8, dtype=torch.float64, generator=generator)
    mean = torch.randn(6, 8, dtype=torch.float64, generator=generator)
    var = torch.rand(6, variance_width, dtype=torch.float64, generator=generator) + 0.1
    expected = gaussian_logpdf(x[..., None, :], mean, var)  # (3, 4, 5, 6, 8) intermediate
    torch.testing.assert_close(pairwise_gaussian_logpdf(x, mean, var), expected, rtol=1e-12, atol=1e-10)
