"""SPE's epsilon decides whether its Monte-Carlo class probability is usable at D = 128 (docs/methods.md, "SPE's
epsilon"). Oracle: with a single class the exact probability is 1 (log 0), whatever the Gaussians."""

import math

import torch

from pml_core.functional import heads_spe as hs

DIM, SAMPLES, QUERIES = 128, 16, 64


def single_class_logits(query_var: float, epsilon: float) -> torch.Tensor:
    """Logits (QUERIES,) of queries against the one prototype of two support samples (sample_size 16, paper);
    every embedding is drawn around the class centre with the variance it predicts, as in a calibrated model."""
    generator = torch.Generator().manual_seed(0)
    centre, spread = torch.randn(DIM, dtype=torch.float64, generator=generator), math.sqrt(query_var)
    support = centre + spread * torch.randn(2, 1, DIM, dtype=torch.float64, generator=generator)
    proto_mean, proto_var = hs.prototypes(support, torch.full((2, 1, 1), query_var, dtype=torch.float64), epsilon)
    queries = centre + spread * torch.randn(QUERIES, DIM, dtype=torch.float64, generator=generator)
    noise = torch.randn(SAMPLES, QUERIES, 1, DIM, dtype=torch.float64, generator=generator)
    var = torch.full((QUERIES, 1), query_var, dtype=torch.float64)
    return hs.spe_query_logits(queries, var, proto_mean, proto_var, noise, "paper")[:, 0]


def test_epsilon_zero_underestimates_by_tens_of_nats_at_any_scale():
    # epsilon = 0: the product variance is 2/3 of the prototype's at any scale, and the 16-sample log-mean of
    # 1 / N(z; P) falls ~60 nats below its expectation at D = 128, whatever the variances (the training loss of
    # such a run stays near 22 nats).
    wide, narrow = single_class_logits(1.0, 0.0), single_class_logits(0.01, 0.0)
    torch.testing.assert_close(wide, narrow, rtol=1e-9, atol=1e-9)
    assert float(wide.mean()) < -30, wide.mean()


def test_trained_epsilon_makes_it_nearly_exact():
    # epsilon at its initial 0.01^(2/D) ~ 0.93 and a small embedding variance: the estimate is within 0.5 nat of 0.
    logits = single_class_logits(0.1, 0.01 ** (2 / DIM))
    assert abs(float(logits.mean())) < 0.5, logits.mean()
    assert math.isfinite(float(logits.min()))
