"""Worked examples of docs/reference.md §11 for the losses."""

import math

import torch

from pml_core.functional import losses_classification as lc
from pml_core.functional import losses_metric as lm


def neg_sq(a, b):
    return -(a[:, None] - b[None, :]) ** 2


def test_hinge_example():
    logits = torch.tensor([[0.1, -0.3, 0.2], [0.5, 0.0, -0.1], [0.0, 0.0, 0.0]], dtype=torch.float64)
    labels = torch.tensor([1, 0, 2])
    assert abs(float(lc.hinge(logits, labels, 0.1)) - 0.2166667) < 1e-6


def test_multisim_example():
    x = torch.tensor([-1.0, 0.0, 2.0], dtype=torch.float64)
    labels = torch.tensor([0, 1, 0])
    losses = lm.multi_similarity_per_anchor(neg_sq(x, x), labels)
    expected = [0.5 * math.log1p(math.exp(19)) + math.log1p(math.exp(-60)) / 40, 0.0,
                0.5 * math.log1p(math.exp(19)) + math.log1p(math.exp(-180)) / 40]
    assert torch.allclose(losses, torch.tensor(expected, dtype=torch.float64), atol=1e-9)
    assert abs(expected[0] - 9.5000000028) < 1e-9


def test_proxy_nca_example():
    x = torch.tensor([-1.0, 0.0, 2.0], dtype=torch.float64)
    proxies = torch.tensor([1.0, -0.5], dtype=torch.float64)
    labels = torch.tensor([0, 1, 0])
    losses = lm.proxy_nca_per_sample(-neg_sq(x, proxies), labels)
    assert torch.allclose(losses, torch.tensor([3.75, -0.75, -5.25], dtype=torch.float64))


def test_cross_entropy_and_nll():
    logits = torch.randn(5, 4, dtype=torch.float64)
    labels = torch.tensor([0, 1, 2, 3, 0])
    log_probs = torch.log_softmax(logits, -1)
    assert torch.allclose(lc.cross_entropy(logits, labels), -log_probs[torch.arange(5), labels].mean())
    assert torch.allclose(lc.nll(log_probs, labels), lc.cross_entropy(logits, labels))
