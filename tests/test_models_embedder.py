"""Embedder shapes, parameter names, freeze flags (docs/reference.md §5.2)."""

import pytest
import torch
from torch import nn

from pml_core.errors import ConfigError
from pml_core.models import EMBEDDERS, create_embedder
from pml_core.models.cnn import ExtraHead


class ToyNormalizer(nn.Module):
    """BN over the first D entries (stands in for a distribution normaliser)."""

    def __init__(self, dim):
        super().__init__()
        self.bn = nn.BatchNorm1d(dim)
        self.dim = dim

    def forward(self, x):
        return torch.cat([self.bn(x[:, : self.dim]), x[:, self.dim:]], dim=1)


def small(**params):
    return {"model_type": "small_cnn", **params}


def test_shapes_and_prefixes():
    torch.manual_seed(0)
    emb = create_embedder("cnn", 9, ToyNormalizer(8), small(extra_head_dim=1, pooling_type="multi",
                                                            pooling_params={"mode": "am"}))
    out = emb(torch.randn(4, 3, 32, 32))
    assert out.shape == (4, 9) and out.dtype == torch.float32
    names = list(emb.state_dict())
    for prefix in ("_stem.", "_head.", "_extra_head.", "_normalizer.", "_output_scale"):
        assert any(n.startswith(prefix) for n in names), prefix
    assert torch.all(emb._head[-1].bias == 0)
    assert torch.all(emb._extra_head.layers[-1].bias == 0)
    assert [l.out_features for l in emb._extra_head.layers] == [64, 32, 1]  # 128 pooled features halved twice


def test_small_cnn_size():
    emb = create_embedder("cnn", 16, None, small())
    n = sum(p.numel() for p in emb._stem.parameters())
    assert n == 3 * 16 * 9 + 16 * 32 * 9 + 32 * 64 * 9 + 64 * 128 * 9 + 2 * (16 + 32 + 64 + 128)  # convs + BN


def test_extra_head_relu_option():
    torch.manual_seed(0)
    x = torch.randn(5, 16)
    relu = ExtraHead(16, 2, 3, relu=True)
    linear = ExtraHead(16, 2, 3, relu=False)
    linear.load_state_dict(relu.state_dict())
    # the reference's version is one affine map: f(a x + (1-a) y) = a f(x) + (1-a) f(y)
    a = 0.3
    mix = linear(a * x[:1] + (1 - a) * x[1:2])
    assert torch.allclose(mix, a * linear(x[:1]) + (1 - a) * linear(x[1:2]), atol=1e-5)
    assert not torch.allclose(relu(x), linear(x))


def test_output_scale_and_disable_head():
    torch.manual_seed(0)
    images = torch.randn(3, 3, 32, 32)
    e1 = create_embedder("cnn", 8, None, small(head_batchnorm=False))
    e2 = create_embedder("cnn", 8, None, small(head_batchnorm=False, output_scale=3.0))
    e2.load_state_dict(e1.state_dict() | {"_output_scale": torch.tensor(3.0)})
    assert torch.allclose(e2(images), 3 * e1(images), atol=1e-5)
    e3 = create_embedder("cnn", 128, None, small(disable_head=True, head_batchnorm=False))
    assert e3(images).shape == (3, 128)
    with pytest.raises(ConfigError):
        create_embedder("cnn", 8, None, small(disable_head=True))


@pytest.mark.parametrize("flag,module", [("freeze_stem", "_stem"), ("freeze_head", "_head"),
                                         ("freeze_extra_head", "_extra_head"), ("freeze_normalizer", "_normalizer")])
def test_freeze_flags(flag, module):
    emb = create_embedder("cnn", 9, ToyNormalizer(8), small(extra_head_dim=1, **{flag: True}))
    emb.train()
    frozen = getattr(emb, module)
    assert all(not p.requires_grad for p in frozen.parameters())
    others = [p for n, p in emb.named_parameters() if not n.startswith(module + ".")]
    assert all(p.requires_grad for p in others)
    bns = [m for m in frozen.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    assert all(not bn.training for bn in bns)
    before = [bn.running_mean.clone() for bn in bns]
    emb(torch.randn(4, 3, 32, 32))
    assert all(torch.equal(b, bn.running_mean) for b, bn in zip(before, bns))


def test_freeze_bn_only_stem_bn():
    emb = create_embedder("cnn", 8, None, small(freeze_bn=True))
    emb.train()
    stem_bn = [m for m in emb._stem.modules() if isinstance(m, nn.BatchNorm2d)]
    assert stem_bn and all(not m.training and not m.weight.requires_grad for m in stem_bn)
    convs = [m for m in emb._stem.modules() if isinstance(m, nn.Conv2d)]
    assert all(m.weight.requires_grad for m in convs)
    assert emb._head[0].training


def test_identity_and_unknowns():
    emb = create_embedder("identity", 5, None, {"head_normalize": False})
    x = torch.randn(2, 5)
    assert torch.equal(emb(x), x)
    with pytest.raises(ConfigError, match="cnn"):
        create_embedder("cnm", 5, None, {})
    with pytest.raises(ConfigError, match="model_type"):
        create_embedder("cnn", 5, None, {"model_typ": "small_cnn"})
    with pytest.raises(ConfigError, match="small_cnn"):
        create_embedder("cnn", 5, None, {"model_type": "small_cn"})
    assert set(EMBEDDERS) == {"cnn", "identity"}


def test_pooling_variants():
    torch.manual_seed(0)
    images = torch.randn(2, 3, 32, 32)
    cat = create_embedder("cnn", 4, None, small(pooling_type="multi", pooling_params={"mode": "am", "aggregate": "cat"}))
    assert cat.in_features == 256  # avg and max of 128 channels concatenated
    power = create_embedder("cnn", 4, None, small(pooling_type="multi", pooling_params={"mode": "3"}))
    assert power(images).shape == (2, 4)
    mx = create_embedder("cnn", 4, None, small(pooling_type="max"))
    assert mx(images).shape == (2, 4)
