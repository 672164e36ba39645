"""Backbones: BN-Inception (own module, local weights only), torchvision and timm stems; no downloads."""

from __future__ import annotations

import socket

import pytest
import torch

from pml_core.errors import ConfigError, DataError, PMLError
from pml_core.models.backbones import make_stem
from pml_core.models.bninception import WEIGHTS_FILE, BNInceptionStem


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a socket fails the test (a download would)."""

    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture(scope="module")
def bninception():
    torch.manual_seed(0)
    return BNInceptionStem().eval()


def test_bninception_shape_and_size(bninception):
    with torch.no_grad():
        out = bninception(torch.randn(2, 3, 224, 224))
    assert out.shape == (2, 1024, 7, 7)
    count = sum(p.numel() for p in bninception.parameters())
    assert 9.5e6 < count < 10.5e6  # 11.3M with the 1000-class last_linear (1.03M) of the ImageNet model
    names = set(bninception.state_dict())
    for name in ("conv1_7x7_s2.weight", "conv1_7x7_s2.bias", "conv1_7x7_s2_bn.running_var", "conv2_3x3_reduce.weight",
                 "inception_3a_1x1.weight", "inception_3a_pool_proj_bn.bias", "inception_3c_double_3x3_2.weight",
                 "inception_4e_3x3_bn.weight", "inception_5b_pool_proj.weight"):
        assert name in names, name
    assert "inception_3c_1x1.weight" not in names and "inception_4e_pool_proj.weight" not in names
    assert all(m.eps == 1e-5 and m.affine for m in bninception.modules() if isinstance(m, torch.nn.BatchNorm2d))


def test_bninception_channel_plan(bninception):
    """Block outputs of the published architecture: 256, 320, 576, 576, 576, 608, 608, 1056, 1024, 1024."""
    outputs = []
    for prefix, has_1x1, has_proj in bninception._blocks:
        width = getattr(bninception, f"{prefix}_3x3").out_channels + getattr(bninception, f"{prefix}_double_3x3_2").out_channels
        width += getattr(bninception, f"{prefix}_1x1").out_channels if has_1x1 else 0
        width += (getattr(bninception, f"{prefix}_pool_proj").out_channels if has_proj
                  else getattr(bninception, f"{prefix}_3x3_reduce").in_channels)
        outputs.append(width)
    assert outputs == [256, 320, 576, 576, 576, 608, 608, 1056, 1024, 1024]


def test_bninception_input_is_flipped_to_bgr(bninception):
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        flipped = bninception(x)
        conv = bninception.conv1_7x7_s2
        direct = torch.nn.functional.conv2d(x[:, [2, 1, 0]], conv.weight, conv.bias, stride=2, padding=3)
        assert torch.allclose(bninception.conv1_7x7_s2(x.flip(1)), direct, atol=1e-5)
    assert flipped.shape == (1, 1024, 2, 2)


def test_bninception_loads_a_weights_file(tmp_path, bninception, monkeypatch, no_network):
    """A file laid out as the ImageNet one (no num_batches_tracked, plus last_linear) loads strictly."""
    torch.manual_seed(1)
    other = BNInceptionStem()
    with torch.no_grad():
        for p in other.parameters():
            p.add_(0.01 * torch.randn_like(p))
    state = {k: v for k, v in other.state_dict().items() if not k.endswith("num_batches_tracked")}
    state["last_linear.weight"] = torch.zeros(1000, 1024)
    state["last_linear.bias"] = torch.zeros(1000)
    path = tmp_path / WEIGHTS_FILE
    torch.save(state, path)

    x = torch.randn(1, 3, 64, 64)
    fresh = BNInceptionStem().eval()
    loaded = BNInceptionStem(pretrained=True, path=str(path)).eval()
    for key, value in other.state_dict().items():
        if not key.endswith("num_batches_tracked"):
            assert torch.equal(loaded.state_dict()[key], value), key
    with torch.no_grad():
        assert not torch.allclose(fresh(x), loaded(x))

    monkeypatch.setenv("PML_CACHE", str(tmp_path / "cache"))
    (tmp_path / "cache" / "weights").mkdir(parents=True)
    path.rename(tmp_path / "cache" / "weights" / WEIGHTS_FILE)
    stem = make_stem("bninception", pretrained=True)  # found in the kit's cache
    assert torch.equal(stem.body.conv1_7x7_s2.weight, other.conv1_7x7_s2.weight)

    torch.save({"conv1_7x7_s2.weight": torch.zeros(64, 3, 7, 7)}, tmp_path / "wrong.pth")
    with pytest.raises(DataError, match="is not the BN-Inception weights"):
        BNInceptionStem(pretrained=True, path=str(tmp_path / "wrong.pth"))


def test_bninception_missing_weights_say_where(tmp_path, monkeypatch, no_network):
    monkeypatch.setenv("PML_CACHE", str(tmp_path))
    with pytest.raises(DataError) as error:
        make_stem("bninception", pretrained=True)
    message = str(error.value)
    assert str(tmp_path / "weights" / WEIGHTS_FILE) in message and "pretrainedmodels" in message
    assert "http" in message and "pretrained: false" in message
    with pytest.raises(DataError, match="pretrained_path"):
        make_stem("bninception", pretrained=True, pretrained_path=str(tmp_path / "none.pth"))


@pytest.mark.parametrize("name, channels", [("resnet18", 512), ("timm:resnet10t", 512)])
def test_library_backbones(name, channels, no_network):
    torch.manual_seed(0)
    stem = make_stem(name, pretrained=False)
    assert stem.out_channels == channels
    with torch.no_grad():
        out = stem.eval()(torch.randn(2, 3, 64, 64))
    assert out.shape == (2, channels, 2, 2)


@pytest.mark.parametrize("name", ["resnet18", "timm:resnet10t"])
def test_library_pretrained_without_weights_is_a_clear_error(name, tmp_path, monkeypatch, no_network):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(PMLError, match="weights") as error:
        make_stem(name, pretrained=True)
    assert "download" in str(error.value).lower() or "cache" in str(error.value).lower()


def test_unknown_backbones():
    with pytest.raises(ConfigError, match="resnet18"):
        make_stem("resnet17")
    with pytest.raises(ConfigError, match="timm"):
        make_stem("timm:no_such_model_xyz")


@pytest.mark.parametrize("name", ["resnet18", "timm:resnet10t"])
def test_library_pretrained_from_a_local_file(name, tmp_path, no_network):
    """``pretrained_path`` loads a local file of the full ImageNet model (classifier included)."""
    torch.manual_seed(3)
    if name.startswith("timm:"):
        import timm

        full = timm.create_model(name[5:], pretrained=False)
    else:
        import torchvision

        full = getattr(torchvision.models, name)(weights=None)
    path = tmp_path / "weights.pth"
    torch.save(full.state_dict(), path)
    stem = make_stem(name, pretrained=True, pretrained_path=str(path))
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        reference = full.eval().forward_features(x) if name.startswith("timm:") else \
            torch.nn.Sequential(*list(full.children())[:-2]).eval()(x)
        assert torch.allclose(stem.eval()(x), reference, atol=1e-5)
        fresh = make_stem(name, pretrained=False).eval()(x)
        assert not torch.allclose(fresh, reference, atol=1e-3)
