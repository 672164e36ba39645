"""Backbones (`embedder_params.model_type`): a stem that maps images to the last feature map.

| name | source | out channels |
|---|---|---|
| `small_cnn` | this package (embedded default, 32 px) | 128 |
| `resnet18/34/50/101`, `wide_resnet50_2/101_2` | torchvision | 512 / 2048 |
| `efficientnet_v2_s/m/l` | torchvision | 1280 |
| `bninception` | this package (pretrainedmodels layout, BGR 0-255 input) | 1024 |
| `timm:<name>` | any timm model (`forward_features`) | `num_features` |

Pretrained weights load only when ``pretrained`` is true (torchvision / timm use their own caches and
may download; `bninception` loads a local file only, see `bninception.py`).
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from ..errors import ConfigError
from ..registry import lookup
from .small_cnn import SmallCNN


class Stem(nn.Module):
    """Wraps a feature extractor; ``out_channels`` is the channel count of its output map (B, F, h, w)."""

    def __init__(self, body: nn.Module, out_channels: int, features_fn: str | None = None):
        super().__init__()
        self.body = body
        self.out_channels = out_channels
        self._features_fn = features_fn

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self._features_fn is not None:
            return getattr(self.body, self._features_fn)(images)
        return self.body(images)


def _small_cnn(pretrained: bool, **_) -> Stem:
    if pretrained:
        raise ConfigError("model_type 'small_cnn' has no pretrained weights: set embedder_params.pretrained: false")
    body = SmallCNN()
    return Stem(body, body.out_channels)


def _torchvision_resnet(name: str) -> Callable[..., Stem]:
    def build(pretrained: bool, **_) -> Stem:
        import torchvision

        model = getattr(torchvision.models, name)(weights="DEFAULT" if pretrained else None)
        out_channels = model.fc.in_features
        body = nn.Sequential(*list(model.children())[:-2])  # drop avgpool and fc
        return Stem(body, out_channels)

    return build


def _torchvision_efficientnet(name: str) -> Callable[..., Stem]:
    def build(pretrained: bool, **_) -> Stem:
        import torchvision

        model = getattr(torchvision.models, name)(weights="DEFAULT" if pretrained else None)
        out_channels = model.classifier[-1].in_features
        return Stem(model.features, out_channels)

    return build


def _bninception(pretrained: bool, pretrained_path: str | None = None, **_) -> Stem:
    from .bninception import BNInceptionStem

    body = BNInceptionStem(pretrained=pretrained, path=pretrained_path)
    return Stem(body, body.out_channels)


def _timm(name: str, pretrained: bool, **_) -> Stem:
    import timm

    try:
        model = timm.create_model(name, pretrained=pretrained, num_classes=0, global_pool="")
    except RuntimeError as error:  # unknown model name
        raise ConfigError(f"timm cannot build model_type 'timm:{name}': {error}") from None
    return Stem(model, model.num_features, features_fn="forward_features")


BACKBONES: dict[str, Callable[..., Stem]] = {
    "small_cnn": _small_cnn,
    **{name: _torchvision_resnet(name) for name in ("resnet18", "resnet34", "resnet50", "resnet101", "wide_resnet50_2", "wide_resnet101_2")},
    **{name: _torchvision_efficientnet(name) for name in ("efficientnet_v2_s", "efficientnet_v2_m", "efficientnet_v2_l")},
    "bninception": _bninception,
}


def make_stem(model_type: str, pretrained: bool = False, pretrained_path: str | None = None) -> Stem:
    """Build the stem named by ``model_type`` (``timm:<name>`` for any timm model)."""
    if model_type.startswith("timm:"):
        return _timm(model_type[len("timm:"):], pretrained)
    builder = lookup("embedder_params.model_type", {**BACKBONES, "timm:<name>": None}, model_type)
    if builder is None:
        raise ConfigError("write the timm model name after 'timm:', e.g. model_type: timm:resnet18")
    return builder(pretrained=pretrained, pretrained_path=pretrained_path)
