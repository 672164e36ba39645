"""CNN embedder: images -> flat distribution parameters (docs/reference.md §5.2).

``stem -> pooling -> flatten -> head ([BN] [dropout] Linear(F, P - extra_head_dim), zero bias)
-> x output_scale -> concat extra head -> distribution normaliser (if head_normalize)``.

Parameter names (checkpoint prefixes, docs/reference.md §9.3): ``_stem.``, ``_head.``, ``_extra_head.``,
``_normalizer.``, ``_output_scale``.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import ConfigError
from .backbones import make_stem
from .pooling import make_pooling


def set_requires_grad(module: nn.Module | None, flag: bool) -> None:
    if module is not None:
        for parameter in module.parameters():
            parameter.requires_grad_(flag)


def batchnorms(module: nn.Module | None) -> list[nn.Module]:
    if module is None:
        return []
    return [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


class ExtraHead(nn.Module):
    """(B, F) -> (B, out_features): ``num_layers - 1`` Linear layers halving the width, then a Linear with zero bias.

    ``relu=True`` (kit default) applies a ReLU after every hidden Linear; the reference builds the ReLUs but
    never inserts them (``relu=False``: a product of linear maps, docs/reference.md §12.3). Parameter names do not
    depend on ``relu`` (``layers.<i>.weight``), so checkpoints load either way.
    """

    def __init__(self, in_features: int, out_features: int, num_layers: int, relu: bool = True):
        super().__init__()
        if num_layers < 1:
            raise ConfigError(f"embedder_params.extra_head_layers must be >= 1, got {num_layers}")
        layers = []
        width = in_features
        for _ in range(num_layers - 1):
            if width // 2 < 1:
                raise ConfigError(f"extra_head_layers={num_layers} halves {in_features} features below 1")
            layers.append(nn.Linear(width, width // 2))
            width //= 2
        last = nn.Linear(width, out_features)
        nn.init.zeros_(last.bias)
        layers.append(last)
        self.layers = nn.ModuleList(layers)
        self.relu = relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for index, layer in enumerate(self.layers):
            x = layer(x)
            if self.relu and index < len(self.layers) - 1:
                x = torch.relu(x)
        return x


class CNNEmbedder(nn.Module):
    """(B, 3, H, W) images -> (B, P) float32 distribution parameters."""

    DEFAULTS = {
        "model_type": "resnet50",
        "pretrained": False,
        "freeze_bn": False,
        "pooling_type": "avg",
        "pooling_params": None,
        "dropout": 0.0,
        "head_batchnorm": True,
        "head_normalize": True,
        "extra_head_dim": 0,
        "extra_head_layers": 3,
        "freeze_stem": False,
        "freeze_head": False,
        "freeze_extra_head": False,
        "freeze_normalizer": False,
        "output_scale": 1.0,
        "disable_head": False,
        # kit additions
        "extra_head_relu": True,  # False: the reference's purely linear extra head (docs/reference.md §12.3)
        "pretrained_path": None,  # local weights file (bninception); default: the kit's weights cache
    }

    def __init__(self, out_features: int, normalizer: nn.Module | None = None, **params):
        super().__init__()
        unknown = set(params) - set(self.DEFAULTS)
        if unknown:
            raise ConfigError(f"unknown embedder_params {sorted(unknown)} for embedder 'cnn'; valid: {sorted(self.DEFAULTS)}")
        p = {**self.DEFAULTS, **params}
        self.params = p
        extra_dim = int(p["extra_head_dim"])
        main_dim = out_features - extra_dim
        if main_dim < 1:
            raise ConfigError(f"extra_head_dim={extra_dim} leaves no main-head output for {out_features} parameters")

        self._stem = make_stem(p["model_type"], pretrained=bool(p["pretrained"]), pretrained_path=p["pretrained_path"])
        self._pooling, multiplier = make_pooling(p["pooling_type"], p["pooling_params"])
        features = self._stem.out_channels * multiplier
        self.in_features = features

        head: list[nn.Module] = []
        if p["head_batchnorm"]:
            head.append(nn.BatchNorm1d(features))
        if p["dropout"] > 0:
            head.append(nn.Dropout(float(p["dropout"])))
        if p["disable_head"]:
            if main_dim != features:
                raise ConfigError(
                    f"disable_head needs P - extra_head_dim ({main_dim}) to equal the pooled feature size ({features})"
                )
        else:
            linear = nn.Linear(features, main_dim)
            nn.init.zeros_(linear.bias)
            head.append(linear)
        self._head = nn.Sequential(*head)

        self._extra_head = (
            ExtraHead(features, extra_dim, int(p["extra_head_layers"]), bool(p["extra_head_relu"])) if extra_dim > 0 else None
        )
        # Always a buffer (the reference stores it only when != 1, which breaks strict loading, docs/reference.md §12.14).
        self.register_buffer("_output_scale", torch.tensor(float(p["output_scale"])))
        self._normalizer = normalizer if p["head_normalize"] else None

        self._frozen_bn: list[nn.Module] = []
        if p["freeze_bn"]:
            for bn in batchnorms(self._stem):
                set_requires_grad(bn, False)
            self._frozen_bn += batchnorms(self._stem)
        for flag, module in (
            ("freeze_stem", self._stem),
            ("freeze_head", self._head),
            ("freeze_extra_head", self._extra_head),
            ("freeze_normalizer", self._normalizer),
        ):
            if p[flag]:
                set_requires_grad(module, False)
                self._frozen_bn += batchnorms(module)
        self.train(True)

    @property
    def output_scale(self) -> torch.Tensor:
        return self._output_scale

    def train(self, mode: bool = True) -> "CNNEmbedder":
        super().train(mode)
        for bn in self._frozen_bn:
            bn.eval()
        return self

    def pooled(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B, F) pooled stem features."""
        return self._pooling(self._stem(images)).flatten(1)

    def head_outputs(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Raw main-head output (B, P - extra) before ``output_scale`` and the extra-head output (B, extra)."""
        features = self.pooled(images)
        with torch.autocast(device_type=features.device.type, enabled=False):
            features = features.float()
            main = self._head(features)
            extra = self._extra_head(features) if self._extra_head is not None else None
        return main, extra

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        main, extra = self.head_outputs(images)
        with torch.autocast(device_type=main.device.type, enabled=False):
            out = main * self._output_scale
            if extra is not None:
                out = torch.cat([out, extra], dim=-1)
            if self._normalizer is not None:
                out = self._normalizer(out)
        return out
