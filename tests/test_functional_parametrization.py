"""Positive parametrisations: docs/reference.md §1.1 and §11 facts."""

import math

import pytest
import torch

from pml_core.errors import ConfigError
from pml_core.functional.parametrization import Parametrization

H = torch.linspace(-10, 10, 1001, dtype=torch.float64)
MINS = (0.0, 0.1, 1.0, 10.0)
SHIFTS = ((1.0, 0.0), (0.3, 5.4))


@pytest.mark.parametrize("kind", ["exp", "invlin", "abs", "softplus"])
def test_log_positive_is_log_of_positive(kind):
    for m in MINS:
        for scale, center in SHIFTS:
            p = Parametrization(kind, min=m, center=center, scale=scale)
            y = p.positive(H)
            assert (y > 0).all() if m > 0 or kind != "abs" else (y >= 0).all()
            mask = y > 0
            torch.testing.assert_close(p.log_positive(H)[mask], torch.log(y)[mask], atol=1e-6, rtol=0)


def test_sigmoid_all_min_max_pairs():
    for lo in MINS:
        for hi in MINS:
            if lo >= hi:
                continue
            p = Parametrization("sigmoid", min=lo, max=hi)
            y = p.positive(H)
            assert ((y >= lo) & (y <= hi)).all()
            torch.testing.assert_close(p.log_positive(H), torch.log(y), atol=1e-6, rtol=0)


@pytest.mark.parametrize("kind,lo,hi,points", [
    ("exp", 0.1, None, torch.linspace(-5, 5, 101)),
    ("invlin", 0.1, None, torch.linspace(-5, 5, 101)),
    ("softplus", 0.1, None, torch.linspace(-5, 5, 101)),
    ("sigmoid", 0.1, 10.0, torch.linspace(-3, 3, 101)),  # saturates beyond |x| ~ 30
    ("abs", 0.1, None, torch.linspace(0, 5, 101)),
])
def test_inverse(kind, lo, hi, points):
    for scale, center in ((1.0, 0.0), (0.3, 0.9)):
        p = Parametrization(kind, min=lo, max=hi, center=center, scale=scale)
        h = points.double() if kind != "abs" else (points.double() + center) * scale
        torch.testing.assert_close(p.ipositive(p.positive(h)), h, atol=1e-6, rtol=0)


def test_invlin_golden_values():
    h = torch.tensor([-3, -1, -0.5, 0, 0.5, 2], dtype=torch.float64)
    expected = torch.tensor([0.25, 0.5, 2 / 3, 1, 1.5, 3], dtype=torch.float64)
    torch.testing.assert_close(Parametrization("invlin").positive(h), expected)
    floor = math.exp(-10)
    torch.testing.assert_close(Parametrization("invlin", min=floor).positive(h), expected + 4.539993e-5, atol=1e-11, rtol=0)


def test_invlin_unused_branch_has_no_nan_gradient():
    h = torch.tensor([-1e30, -2.0, 0.0, 3.0, 1e30], dtype=torch.float64, requires_grad=True)
    p = Parametrization("invlin", min=math.exp(-10))
    (p.positive(h).sum() + p.log_positive(h).sum()).backward()
    assert torch.isfinite(h.grad).all()


def test_validation_errors():
    with pytest.raises(ConfigError):
        Parametrization("sigmoid", min=0.0)
    with pytest.raises(ConfigError):
        Parametrization("exp", max=1.0)
    with pytest.raises(ConfigError):
        Parametrization("exp", min=-1.0)
    with pytest.raises(ConfigError, match="invlin"):
        Parametrization("invlinn")
