"""Initialiser (docs/reference.md §5.4): vMF-loss output scale, HIB scorer scale, matrix initialisers."""

import math

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
    scale = float(model._scorer.scale.detach())
    assert scale != 1.0 and scale > 0
