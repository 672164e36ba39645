"""Scorers: formulas on deterministic inputs, closed form vs Monte-Carlo, HIB clamp, registry."""

import math

import pytest
import torch

from pml_core.distributions import create_distribution
from pml_core.errors import ConfigError
from pml_core.functional import scoring
from pml_core.scorers import SCORERS, create_scorer


def test_registry_names():
    assert set(SCORERS) == {"dot", "cosine", "l2", "mls", "hib", "ecs"}
    with pytest.raises(ConfigError, match="cosine"):
        create_scorer("cosin", create_distribution("dirac", {"dim": 2}))
    with pytest.raises(ConfigError):
        create_scorer("mls", create_distribution("dirac", {"dim": 2}))


def test_deterministic_scores_and_broadcasting():
    d = create_distribution("dirac", {"dim": 2})
    a = torch.tensor([[3.0, 4.0]])
    b = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    assert create_scorer("dot", d)(a[:, None], b[None]).tolist() == [[3.0, 8.0]]
    torch.testing.assert_close(create_scorer("cosine", d)(a[:, None], b[None]), torch.tensor([[0.6, 0.8]]))
    assert create_scorer("l2", d)(a[:, None], b[None]).tolist() == [[-20.0, -13.0]]


def test_vmf_dot_uses_shrunk_mean_and_mls_is_logmls():
    d = create_distribution("vmf", {"dim": 3})
    p = torch.randn(4, d.num_parameters, dtype=torch.float64)
    m = d.mean(p)
    torch.testing.assert_close(create_scorer("dot", d)(p, p), (m * m).sum(-1))
    assert (create_scorer("dot", d)(p, p) < 1).all()
    torch.testing.assert_close(create_scorer("mls", d)(p[:, None], p[None]), d.logmls(p[:, None], p[None]))


def test_hib_on_dirac_is_exact_and_clamped():
    d = create_distribution("dirac", {"dim": 3})
    scorer = create_scorer("hib", d, {"positive_scale": False})  # the reference's parametrisation: a itself
    assert {n for n, _ in scorer.named_parameters()} == {"scale", "bias"}
    x = torch.tensor([[1e4, 1e4 + 1, -3e4]], requires_grad=True)
    same = scorer(x, x)  # |a|^2 + |b|^2 - 2<a, b> may be slightly negative in float32: clamped, no NaN
    assert same.item() == pytest.approx(0.5, abs=1e-3)
    y = torch.tensor([[0.0, 3.0, 4.0]])
    assert scorer(torch.zeros(1, 3), y).item() == pytest.approx(1 / (1 + math.exp(5.0)), rel=1e-5)
    (scorer(x, y).sum()).backward()
    assert torch.isfinite(x.grad).all() and scorer.scale.grad is not None and torch.isfinite(scorer.scale.grad)


def test_hib_functional_matches_direct_distances():
    s1 = torch.randn(5, 4, 6, dtype=torch.float64)
    s2 = torch.randn(5, 3, 6, dtype=torch.float64)
    dist = (s1[:, :, None] - s2[:, None]).norm(dim=-1)
    expected = torch.sigmoid(-1.7 * dist + 2.3).mean(dim=(-2, -1))
    torch.testing.assert_close(scoring.hib_match_probability(s1, s2, 1.7, 2.3), expected)


def test_ecs_vmf_closed_form_matches_sampling():
    d = create_distribution("vmf", {"dim": 16})
    torch.manual_seed(0)
    p1 = d.join(torch.nn.functional.normalize(torch.randn(16, dtype=torch.float64), dim=0), torch.tensor(math.log(30.0), dtype=torch.float64))
    p2 = d.join(torch.nn.functional.normalize(torch.randn(16, dtype=torch.float64) + 2 * d.mode(p1), dim=0), torch.tensor(math.log(10.0), dtype=torch.float64))
    exact = create_scorer("ecs", d)(p1, p2).item()
    mc = create_scorer("ecs", d, num_samples=20000, method="sample")(p1, p2).item()
    assert mc == pytest.approx(exact, abs=0.01)


def test_ecs_gaussian_sampled_shape_and_range(capsys):
    d = create_distribution("gmm", {"dim": 8})
    a = torch.randn(3, 1, d.num_parameters)
    b = torch.randn(1, 4, d.num_parameters)
    out = create_scorer("ecs", d)(a, b)
    assert out.shape == (3, 4) and (out.abs() <= 1 + 1e-6).all()
    assert capsys.readouterr().out == ""  # the reference's debug print is gone


def test_hib_positive_scale_stays_positive_under_a_large_step():
    """Default: a = softplus(softplus_scale). A step that would drive a negative in the reference's parametrisation
    (a -= lr * grad with a large gradient) leaves it positive; the reference's goes negative."""
    d = create_distribution("dirac", {"dim": 3})
    x, y = torch.zeros(4, 3), torch.tensor([[0.0, 3.0, 4.0]] * 4)  # distance 5
    for positive in (True, False):
        scorer = create_scorer("hib", d, {"positive_scale": positive})
        assert {n for n, _ in scorer.named_parameters()} == ({"softplus_scale", "bias"} if positive else {"scale", "bias"})
        assert scorer.scale_value().item() == pytest.approx(1.0)
        optimizer = torch.optim.SGD(scorer.parameters(), lr=10.0)
        (-scorer(x, y).sum()).backward()  # maximise the match probability of a distant pair: pushes a down
        optimizer.step()
        a = scorer.scale_value().item()
        assert (a > 0) if positive else (a < 0), (positive, a)


def test_hib_scale_setter_and_unknown_scorer_key():
    d = create_distribution("dirac", {"dim": 3})
    scorer = create_scorer("hib", d)
    scorer.set_scale(0.25)
    assert scorer.scale_value().item() == pytest.approx(0.25)
    with pytest.raises(ConfigError, match="positive"):
        scorer.set_scale(-1.0)
    with pytest.raises(ConfigError, match="positive_scal"):
        create_scorer("hib", d, {"positive_scal": True})
    with pytest.raises(ConfigError, match="unknown key"):
        create_scorer("cosine", d, {"num_samples": 3})


def test_hib_log_match_probability_matches_and_stays_finite():
    """log p and log(1 - p) in log space equal the logs of the probability where that is representable, and
    keep finite values and gradients where p rounds to 1 in float32 (close pairs at a large bias)."""
    g = torch.Generator().manual_seed(0)
    s1 = torch.randn(6, 4, 5, dtype=torch.float64, generator=g)
    s2 = torch.randn(6, 3, 5, dtype=torch.float64, generator=g)
    p = scoring.hib_match_probability(s1, s2, 0.7, 1.1)
    log_p, log_q = scoring.hib_log_match_probability(s1, s2, 0.7, 1.1)
    torch.testing.assert_close(log_p, torch.log(p))
    torch.testing.assert_close(log_q, torch.log1p(-p))

    from pml_core.functional import losses_metric as lm

    labels = torch.tensor([0, 0, 1, 1])
    x = (torch.randn(4, 2, 8, generator=g) * 1e-3).requires_grad_()  # four nearly coincident distributions
    bias = torch.tensor(40.0)  # sigmoid(40 - small) == 1.0 in float32
    assert torch.all(scoring.hib_match_probability(x[:, None], x[None], 1.0, bias) == 1.0)
    naive = lm.hib(scoring.hib_match_probability(x[:, None], x[None], 1.0, bias), labels)
    naive.backward()
    assert not torch.isfinite(x.grad).all()  # the probability form: log1p(-1) = -inf, NaN gradient
    x.grad = None
    stable = lm.hib_from_logs(*scoring.hib_log_match_probability(x[:, None], x[None], 1.0, bias), labels)
    stable.backward()
    assert torch.isfinite(stable) and stable.item() == pytest.approx(0.5 * 40, rel=1e-3)  # negatives: -log(1-p) ~ 40
    assert torch.isfinite(x.grad).all()
