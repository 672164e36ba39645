"""Model forward with each head; build_model from ModelParams (needs pml_core.distributions)."""

import pytest
import torch

from pml_core.config import CriterionParams, ModelParams
from pml_core.errors import ConfigError

distributions = pytest.importorskip("pml_core.distributions")
pytest.importorskip("pml_core.scorers")

from pml_core.losses import build_criterion  # noqa: E402
from pml_core.model import ModelOutput, build_model  # noqa: E402

EMB = {"model_type": "small_cnn"}


def build(**kwargs):
    params = {"distribution_type": "dirac", "distribution_params": {"dim": 8, "spherical": True},
              "embedder_params": EMB, "scorer_type": "cosine", "classifier_type": "arcface",
              "classifier_params": {"scale": 16.0}}
    params.update(kwargs)
    return build_model(ModelParams(**params), num_classes=5)


def test_arcface_model_and_xent():
    torch.manual_seed(0)
    model = build()
    images, labels = torch.randn(4, 3, 32, 32), torch.tensor([0, 1, 2, 1])
    out = model(images, labels)
    assert isinstance(out, ModelOutput)
    assert out.params.shape == (4, 8) and out.logits.shape == (4, 5)
    assert model(images).logits.shape == (4, 5)
    criterion = build_criterion(CriterionParams(), model)
    loss, terms = criterion(out, labels)
    assert loss.ndim == 0 and set(terms) == {"xent"}
    loss.backward()
    assert model._classifier.weight.grad is not None
    names = list(model.state_dict())
    assert any(n.startswith("_embedder._stem.") for n in names)
    assert any(n.startswith("_classifier.") for n in names)


def test_unknown_names():
    with pytest.raises(ConfigError, match="arcface"):
        build(classifier_type="arcfac")
    with pytest.raises(ConfigError):
        build(classifier_params={"scal": 1.0})
