"""Heads inside the model (every head), worked examples of docs/reference.md §11, reference options."""

import math

import pytest
import torch

from pml_core.config import CriterionParams, ModelParams
from pml_core.distributions import create_distribution
from pml_core.errors import ConfigError
from pml_core.functional import heads_spe as hs
from pml_core.functional.bessel import vmf_log_normalizer, vmf_log_normalizer_approx
from pml_core.heads import HEADS, create_head
from pml_core.losses import build_criterion
from pml_core.model import build_model

IDENT = {"head_normalize": False}
CASES = {
    "linear": ("dirac", {"dim": 6}, "dot", None, {}),
    "arcface": ("dirac", {"dim": 6, "spherical": True}, "cosine", None, {"scale": 8.0}),
    "cosface": ("gmm", {"dim": 6, "spherical": True}, "cosine", None, {"symmetric": True}),
    "loglike-vmf": ("vmf", {"dim": 6}, "mls", "loglike", {"margin": 0.5, "priors": "trainable"}),
    "loglike-gmm": ("gmm", {"dim": 6, "spherical": True}, "mls", "loglike", {}),
    "loglike-dsml": ("dirac", {"dim": 6, "spherical": True}, "cosine", "loglike", {"target_distribution": "vmf"}),
    "loglike-dsml-gmm": ("dirac", {"dim": 6, "spherical": True}, "cosine", "loglike",
                         {"target_distribution": "gmm", "target_distribution_params": {"spherical": True}}),
    "vmf-loss": ("vmf", {"dim": 6, "k": "norm"}, "cosine", None, {"sample_size": 3}),
    "vmf-loss-det": ("vmf", {"dim": 6, "k": "norm"}, "cosine", "vmf-loss", {"deterministic_target": True}),
    "spe": ("gmm", {"dim": 6}, "mls", None, {"sample_size": 4}),
    "scorer": ("dirac", {"dim": 6, "spherical": True}, "l2", None, {"use_bias": False}),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_model_forward_each_head(case):
    torch.manual_seed(0)
    dist, dparams, scorer, head, hparams = CASES[case]
    head = head or case
    mp = ModelParams(distribution_type=dist, distribution_params=dparams, embedder_type="identity",
                     embedder_params=IDENT, scorer_type=scorer, classifier_type=head, classifier_params=hparams)
    model = build_model(mp, num_classes=5, priors=torch.full((5,), 0.2))
    inputs = torch.randn(8, model.num_parameters)
    labels = torch.tensor([0, 0, 1, 1, 3, 3, 4, 4])
    out = model(inputs, labels)
    assert out.params.shape == (8, model.num_parameters)
    assert out.logits.shape == (8, 5) and torch.isfinite(out.logits).all()
    assert model(inputs).logits.shape == (8, 5)
    use_softmax = head not in ("vmf-loss", "spe")
    cp = CriterionParams(use_softmax=use_softmax, xent_weight=0.0 if head == "scorer" else 1.0,
                         proxy_nca_weight=1.0 if head == "scorer" else 0.0)
    loss, terms = build_criterion(cp, model)(out, labels)
    assert torch.isfinite(loss)
    loss.backward()
    assert any(p.grad is not None for p in model._classifier.parameters())


def test_loglike_margin_example():
    torch.manual_seed(0)
    dist = create_distribution("vmf", {"dim": 4})
    a = create_head("loglike", dist, 3, {})
    b = create_head("loglike", dist, 3, {"margin": 3.0})
    b.load_state_dict(a.state_dict())
    params, labels = torch.randn(5, 5), torch.tensor([0, 1, 2, 1, 0])
    diff = a(params, labels) - b(params, labels)
    target = torch.nn.functional.one_hot(labels, 3).bool()
    assert torch.allclose(diff[target], torch.tensor(3.0)) and torch.allclose(diff[~target], torch.tensor(0.0))


def test_loglike_priors_modes():
    dist = create_distribution("vmf", {"dim": 4})
    priors = torch.tensor([0.5, 0.25, 0.25])
    assert not create_head("loglike", dist, 3, {"priors": "pretrained"}, priors=priors).log_priors.requires_grad
    assert create_head("loglike", dist, 3, {"priors": "trainable"}, priors=priors).log_priors.requires_grad
    with pytest.raises(ConfigError):
        create_head("loglike", dist, 3, {"priors": "learned"}, priors=priors)
    ref = {"reference_priors_mode": True}
    with pytest.raises(ConfigError):
        create_head("loglike", dist, 3, {"priors": "trainable", **ref}, priors=priors)
    assert create_head("loglike", dist, 3, {"priors": "learned", **ref}, priors=priors).log_priors.requires_grad


def test_spe_grouping_and_prototypes():
    values, index = hs.group_by_label(torch.tensor([0, 0, 2, 2]))
    assert values.tolist() == [0, 2] and index.tolist() == [[0, 2], [1, 3]]
    mu, var = torch.tensor([[[1.5, 2.0]]]), torch.tensor([[[0.7]]])
    m, v = hs.prototypes(mu, var, 0.0)
    assert torch.allclose(m, mu[0]) and torch.allclose(v, var[0])
    m2, v2 = hs.prototypes(torch.tensor([[[1.0]], [[3.0]]]), torch.ones(2, 1, 1), 0.0)
    assert torch.allclose(m2, torch.tensor([[2.0]])) and torch.allclose(torch.log(v2), torch.tensor([[-math.log(2)]]))
    with pytest.raises(ConfigError):
        hs.group_by_label(torch.tensor([0, 0, 1]))


def test_spe_worked_example():
    mu = torch.tensor([[0.0], [0.0], [1.0], [1.0]], dtype=torch.float64)
    var = torch.ones(4, 1, dtype=torch.float64)
    logits = hs.spe_logits(mu, var, torch.tensor([2, 2, 0, 0]), 3, epsilon=0.0, sample_size=0, denominator="reference")
    assert torch.allclose(logits[0, 2], torch.tensor(-0.97917263, dtype=torch.float64), atol=1e-7)
    assert torch.allclose(logits[0, 0], torch.tensor(-1.22917263, dtype=torch.float64), atol=1e-7)
    assert logits[0, 1] == -100
    paper = hs.spe_logits(mu, var, torch.tensor([2, 2, 0, 0]), 3, epsilon=0.0, sample_size=0, denominator="paper")
    assert not torch.allclose(paper, logits)


def test_spe_epsilon_init():
    dist = create_distribution("gmm", {"dim": 128})
    assert abs(float(create_head("spe", dist, 3, {}).epsilon.detach()) - 0.01 ** (2 / 128)) < 1e-6
    assert abs(float(create_head("spe", dist, 3, {"reference_epsilon_init": True}).epsilon.detach()) - math.exp(0.01 ** (2 / 128))) < 1e-5
    assert create_head("spe", dist, 3, {"train_epsilon": False}).epsilon == 0.0


def test_vmf_loss_scale_normalizer_option():
    torch.manual_seed(0)
    dist = create_distribution("vmf", {"dim": 8, "k": "norm"})
    intended = create_head("vmf-loss", dist, 4, {"sample_size": 5})
    reference = create_head("vmf-loss", dist, 4, {"sample_size": 5, "reference_scale_normalizer": True})
    reference.load_state_dict(intended.state_dict())
    params, labels = torch.randn(6, 8, dtype=torch.float64) * 3, torch.tensor([0, 1, 2, 3, 0, 1])
    intended.double(), reference.double()
    torch.manual_seed(1)
    a = intended(params, labels)
    torch.manual_seed(1)
    b = reference(params, labels)
    s = intended.scale.double()
    offset = vmf_log_normalizer(8, s) - vmf_log_normalizer_approx(8, s)
    assert torch.allclose(b - a, offset.expand_as(a), atol=1e-9)


def test_vmf_loss_near_dirac_inference():
    torch.manual_seed(0)
    dist = create_distribution("vmf", {"dim": 5, "k": "norm"})
    head = create_head("vmf-loss", dist, 3, {"scale": 1.0, "sample_size": 4})
    directions = torch.nn.functional.normalize(torch.randn(3, 5), dim=-1)
    with torch.no_grad():
        head.weight.copy_(directions * 1e6)
    x = torch.nn.functional.normalize(torch.randn(2, 5), dim=-1)
    params = x * 1e6
    probs = head(params).exp()
    assert torch.allclose(probs, torch.softmax(x @ directions.t(), -1), rtol=1e-3)


def test_vmf_loss_needs_vmf():
    with pytest.raises(ConfigError):
        create_head("vmf-loss", create_distribution("gmm", {"dim": 4}), 3, {})
    assert set(HEADS) == {"linear", "arcface", "cosface", "loglike", "vmf-loss", "spe", "scorer"}


def test_dsml_initial_target_concentration():
    """DSML's per-class targets start at kappa = 16 (vMF) / sigma^2 = 1/16 (gmm) by default; null keeps the
    reference's Xavier-uniform hidden column (kappa ~ 1), where the class logits span about 2 nats."""
    from pml_core.distributions import create_distribution

    dist = create_distribution("dirac", {"dim": 128, "spherical": True})
    torch.manual_seed(0)
    head = create_head("loglike", dist, 10, {"target_distribution": "vmf"})
    kappa = torch.exp(head.target.split(head.weight).log_kappa).detach()
    torch.testing.assert_close(kappa, torch.full((10,), 16.0), rtol=1e-4, atol=0)
    x = torch.nn.functional.normalize(torch.randn(64, 128), dim=-1)
    spread = lambda h: float((h(x).max(1).values - h(x).min(1).values).mean())  # noqa: E731
    torch.manual_seed(0)
    reference = create_head("loglike", dist, 10, {"target_distribution": "vmf", "initial_target_concentration": None})
    ref_kappa = torch.exp(reference.target.split(reference.weight).log_kappa).detach()
    assert float((ref_kappa - 1).abs().max()) < 0.3
    assert spread(head) > 5 * spread(reference)
    torch.testing.assert_close(head.target.split(head.weight).mean, reference.target.split(reference.weight).mean)

    gmm = create_head("loglike", dist, 10, {"target_distribution": "gmm", "target_distribution_params": {"spherical": True},
                                            "initial_target_concentration": 4.0})
    torch.testing.assert_close(torch.exp(gmm.target.split(gmm.weight).log_variance), torch.full((10, 1), 0.25),
                               rtol=1e-4, atol=0)
    with pytest.raises(ConfigError, match="initial_target_concentration"):
        create_head("loglike", dist, 10, {"target_distribution": "vmf", "initial_target_concentration": -1.0})
