"""Faces: iResNet-50/100 shapes, parameter counts, InsightFace weight loading and its errors."""

from __future__ import annotations

import pytest
import torch

from pml_core.errors import DataError
from pml_core.models.backbones import make_stem
from pml_core.models.iresnet import IResNet, IResNetStem


def test_iresnet50_shape_and_parameter_count():
    torch.manual_seed(0)
    stem = make_stem("iresnet50").eval()
    assert stem.out_channels == 512
    count = sum(p.numel() for p in stem.parameters())
    assert 43.5e6 < count < 43.7e6  # InsightFace r50 at 512-D features: 43.6M
    with torch.no_grad():
        out = stem(torch.randn(1, 3, 112, 112))
    assert out.shape == (1, 512, 1, 1) and torch.isfinite(out).all()


def test_iresnet100_layout_and_count():
    body = IResNet((3, 13, 30, 3))
    assert [len(getattr(body, f"layer{i}")) for i in range(1, 5)] == [3, 13, 30, 3]
    assert 65.0e6 < sum(p.numel() for p in body.parameters()) < 65.3e6
    names = set(body.state_dict())
    for name in ("conv1.weight", "bn1.running_mean", "prelu.weight", "layer1.0.bn1.weight", "layer1.0.conv1.weight",
                 "layer1.0.bn2.weight", "layer1.0.prelu.weight", "layer1.0.conv2.weight", "layer1.0.bn3.bias",
                 "layer1.0.downsample.0.weight", "layer1.0.downsample.1.running_var", "bn2.weight", "fc.weight",
                 "features.running_mean"):
        assert name in names, name
    assert "layer1.1.downsample.0.weight" not in names


def test_weights_load_from_an_insightface_file(tmp_path):
    torch.manual_seed(1)
    source = IResNet((3, 4, 14, 3))
    # a DDP-saved checkpoint: "module." prefixes
    torch.save({f"module.{k}": v for k, v in source.state_dict().items()}, tmp_path / "backbone.pth")
    stem = make_stem("iresnet50", pretrained=True, pretrained_path=str(tmp_path / "backbone.pth"))
    assert isinstance(stem.body, IResNetStem)
    for key, value in source.state_dict().items():
        assert torch.equal(stem.body.body.state_dict()[key], value), key


def test_missing_or_foreign_weights_are_clear_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("PML_CACHE", str(tmp_path / "cache"))
    with pytest.raises(DataError, match=r"iresnet100.*not found.*cache/weights/iresnet100.pth.*pretrained_path"):
        make_stem("iresnet100", pretrained=True)
    torch.save({"fc.weight": torch.zeros(3, 3)}, tmp_path / "wrong.pth")
    with pytest.raises(DataError, match="cannot load pretrained weights of 'iresnet50'"):
        make_stem("iresnet50", pretrained=True, pretrained_path=str(tmp_path / "wrong.pth"))
