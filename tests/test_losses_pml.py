"""Cross-checks against pytorch-metric-learning once conventions are matched (see docs/methods.md)."""

import math

import pytest
import torch
import torch.nn.functional as F

pml_losses = pytest.importorskip("pytorch_metric_learning.losses")
pml_miners = pytest.importorskip("pytorch_metric_learning.miners")

from pml_core.functional import heads_margin as hm  # noqa: E402
from pml_core.functional import losses_classification as lc  # noqa: E402
from pml_core.functional import losses_metric as lm  # noqa: E402


def data(b=16, c=5, d=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, d, generator=g, dtype=torch.float64)
    w = torch.randn(c, d, generator=g, dtype=torch.float64)
    y = torch.arange(b) % c
    return x, w, y


def test_arcface_matches_pml():
    x, w, y = data()
    w = w.clone()
    x = w[y] + 0.3 * x  # target angles well below pi - m
    loss = pml_losses.ArcFaceLoss(5, 8, margin=math.degrees(0.5), scale=16.0).double()
    loss.W.data = w.t().clone()
    ours = lc.cross_entropy(hm.arcface_logits(x, w, y, scale=16.0, margin=0.5), y)
    assert torch.allclose(ours, loss(x, y), atol=1e-5)


def test_cosface_matches_pml():
    x, w, y = data()
    loss = pml_losses.CosFaceLoss(5, 8, margin=0.35, scale=16.0).double()
    loss.W.data = w.t().clone()
    ours = lc.cross_entropy(hm.cosface_logits(x, w, y, 16.0, 0.35), y)
    assert torch.allclose(ours, loss(x, y), atol=1e-5)


def test_proxy_anchor_matches_pml():
    x, w, y = data()
    loss = pml_losses.ProxyAnchorLoss(5, 8, margin=0.1, alpha=32.0).double()
    loss.proxies.data = w.clone()
    ours = lc.proxy_anchor(hm.cosface_logits(x, w, y, 32.0, 0.2, symmetric=True), y)
    assert torch.allclose(ours, loss(x, y), atol=1e-5)


def test_proxy_nca_matches_pml_with_conversion():
    x, w, y = data()
    loss = pml_losses.ProxyNCALoss(5, 8, softmax_scale=1).double()
    loss.proxies.data = w.clone()
    d = (F.normalize(x, dim=-1)[:, None] - F.normalize(w, dim=-1)[None]).square().sum(-1)
    p_y = torch.softmax(-d, -1)[torch.arange(len(y)), y]
    ours = lm.proxy_nca_per_sample(d, y)
    assert torch.allclose((ours - torch.log1p(-p_y)).mean(), loss(x, y), atol=1e-5)


def test_multi_similarity_matches_pml():
    x, _, y = data(b=24, c=6)
    miner = pml_miners.MultiSimilarityMiner(epsilon=0.1)
    loss = pml_losses.MultiSimilarityLoss(alpha=2.0, beta=40.0, base=0.5)
    xn = F.normalize(x, dim=-1)
    per = lm.multi_similarity_per_anchor(xn @ xn.t(), y)
    theirs = loss(x, y, miner(x, y))
    assert (per > 0).all()  # every anchor mined: PML's non-zero average equals the kit's mean over all anchors
    assert torch.allclose(per.mean(), theirs, atol=1e-5)
