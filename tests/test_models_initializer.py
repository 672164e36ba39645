"""Initialiser (docs/reference.md §5.4): vMF-loss output scale, HIB scorer scale, matrix initialisers."""

import math

import pytest
import torch

from pml_core.config import InitializerParams, ModelParams
from pml_core.initializer import initialize_model
from pml_core.model import build_model


def batches(n=3):
    g = torch.Generator().manual_seed(0)
    return [(torch.randn(4, 3, 32, 32, generator=g), torch.tensor([0, 0, 1, 1])) for _ in range(n)]


def test_vmf_loss_output_scale():
    torch.manual_seed(0)
    mp = ModelParams(distribution_type="vmf", distribution_params={"dim": 8, "k": "norm"},
                     embedder_params={"model_type": "small_cnn", "head_normalize": False}, scorer_type="cosine",
                     classifier_type="vmf-loss", classifier_params={"kappa_confidence": 0.7})
    model = build_model(mp, num_classes=3)
    data = batches()
    initialize_model(model, InitializerParams(num_statistics_batches=2), data)
    scale = float(model._embedder._output_scale)
    model.train()
    with torch.no_grad():
        raw = torch.cat([model._embedder.head_outputs(x)[0] for x, _ in data[:2]])
    target = 0.7 / (1 - 0.49) * 7 / math.sqrt(8)
    assert abs(scale * raw.abs().mean() - target) / target < 0.2  # BN statistics moved between the two passes


def test_hib_scale_and_matrix_init():
    torch.manual_seed(0)
    mp = ModelParams(distribution_type="gmm", distribution_params={"dim": 8},
                     embedder_params={"model_type": "small_cnn", "extra_head_dim": 1}, scorer_type="hib",
                     classifier_type=None)
    model = build_model(mp, num_classes=3)
    before = model._embedder._head[-1].weight.clone()
    initialize_model(model, InitializerParams(matrix_initializer="xavier_normal", num_statistics_batches=1), batches(1))
    assert not torch.equal(before, model._embedder._head[-1].weight)
    scale = float(model._scorer.scale_value().detach())
    assert scale != 1.0 and scale > 0


def _hib_model(seed=0):
    torch.manual_seed(seed)
    mp = ModelParams(distribution_type="gmm", distribution_params={"dim": 128, "spherical": False},
                     embedder_params={"model_type": "small_cnn", "extra_head_dim": 1}, scorer_type="hib",
                     classifier_type=None)
    return build_model(mp, num_classes=4)


def _glyph_like_batch(n=32):
    g = torch.Generator().manual_seed(1)
    return [(torch.rand(n, 3, 32, 32, generator=g) * 2 - 1, torch.arange(n) % 4)]


def _pair_probabilities(model, images):
    """HIB match probabilities of every pair i != j of a batch, model in train mode (as the loss sees them)."""
    model.train()
    with torch.no_grad():
        params = model.embed(images)
        p = model._scorer(params[:, None], params[None])
    return p[~torch.eye(len(images), dtype=torch.bool)]


def test_hib_median_bias_starts_pairs_at_one_half():
    """Default hib_bias: median -> b = a x median sample distance, so the median pair starts at p = 1/2 (the
    loss near log 2); the reference's b = 0 starts every pair near sigmoid(-sqrt(2 D)), the saturated loss."""
    data = _glyph_like_batch()
    model = _hib_model()
    initialize_model(model, InitializerParams(num_statistics_batches=1), data)
    p = _pair_probabilities(model, data[0][0])
    assert 0.4 < float(p.median()) < 0.6
    assert model._scorer.bias.item() > 1.0 and model._scorer.scale_value().item() > 0

    reference = _hib_model()
    initialize_model(reference, InitializerParams(num_statistics_batches=1, hib_bias="zero"), data)
    assert reference._scorer.bias.item() == 0.0
    assert float(_pair_probabilities(reference, data[0][0]).max()) < 1e-3
    # Both keep the reference's a = 1 / mean|mu|.
    torch.testing.assert_close(model._scorer.scale_value(), reference._scorer.scale_value(), rtol=1e-5, atol=0)


def test_hib_median_distance_is_the_median_of_sample_distances():
    """An independent computation on a Dirac model (samples = means): median over i != j of |mu_i - mu_j|."""
    from pml_core.initializer import hib_median_distance

    torch.manual_seed(0)
    mp = ModelParams(distribution_type="dirac", distribution_params={"dim": 8},
                     embedder_params={"model_type": "small_cnn"}, scorer_type="hib", classifier_type=None)
    model = build_model(mp, num_classes=2)
    data = _glyph_like_batch(9)
    model.train()
    with torch.no_grad():
        mu = model.embed(data[0][0])
    expected = torch.stack([(mu[i] - mu[j]).norm() for i in range(9) for j in range(9) if i != j])
    got = hib_median_distance(model, data)
    assert got == pytest.approx(float(expected.median()), rel=1e-5)
