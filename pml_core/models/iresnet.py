"""iResNet face backbones (`model_type` ``iresnet50`` / ``iresnet100``) for 112x112 aligned faces.

The ArcFace / InsightFace architecture ("improved" residual network, Deng et al. 2019):

* input: conv3x3(3 -> 64, stride 1, no bias) -> BN -> PReLU;
* four stages of ``IBasicBlock`` with widths 64, 128, 256, 512, each stage starting with stride 2
  (112 -> 56 -> 28 -> 14 -> 7); blocks per stage [3, 4, 14, 3] (r50) or [3, 13, 30, 3] (r100);
  a block is BN -> conv3x3 -> BN -> PReLU -> conv3x3(stride) -> BN, plus the shortcut (identity, or
  conv1x1(stride) + BN when the shape changes);
* output block: BN2d(512) -> dropout -> flatten -> FC(512*7*7 -> F) -> BN1d(F) (its scale fixed to 1).

Parameter names follow the InsightFace ``backbone.pth`` state dicts (``conv1``, ``bn1``, ``prelu``,
``layer1.0.bn1`` ..., ``bn2``, ``fc``, ``features``), so user-provided weights load as they are
(``module.`` prefixes and ``state_dict`` / ``model`` wrappers are removed first). Nothing is downloaded:
``embedder_params.pretrained_path`` or ``$PML_CACHE/weights/<model_type>.pth`` must hold the file.

As a kit stem the network returns its F features as a (B, F, 1, 1) map, so the embedder's ``avg``
pooling is the identity; set ``head_batchnorm: false`` and ``disable_head: true`` to use the F features
themselves as the embedding (the face recipe, configs/datasets/faces-*.yaml).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from ..errors import DataError

LAYERS = {"iresnet18": (2, 2, 2, 2), "iresnet34": (3, 4, 6, 3), "iresnet50": (3, 4, 14, 3),
          "iresnet100": (3, 13, 30, 3), "iresnet200": (6, 26, 60, 6)}
WIDTHS = (64, 128, 256, 512)
BN_EPS = 1e-5


def _conv3x3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)


class IBasicBlock(nn.Module):
    """BN -> conv3x3 -> BN -> PReLU -> conv3x3(stride) -> BN, + shortcut. (B, Cin, H, W) -> (B, C, H/s, W/s)."""

    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin, eps=BN_EPS)
        self.conv1 = _conv3x3(cin, cout)
        self.bn2 = nn.BatchNorm2d(cout, eps=BN_EPS)
        self.prelu = nn.PReLU(cout)
        self.conv2 = _conv3x3(cout, cout, stride)
        self.bn3 = nn.BatchNorm2d(cout, eps=BN_EPS)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False),
                                            nn.BatchNorm2d(cout, eps=BN_EPS))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn3(self.conv2(self.prelu(self.bn2(self.conv1(self.bn1(x))))))
        shortcut = x if self.downsample is None else self.downsample(x)
        return out + shortcut


class IResNet(nn.Module):
    """(B, 3, 112, 112) -> (B, num_features) face features (the InsightFace layout)."""

    def __init__(self, layers=(3, 4, 14, 3), num_features: int = 512, dropout: float = 0.0, input_size: int = 112):
        super().__init__()
        self.num_features = int(num_features)
        self.conv1 = _conv3x3(3, WIDTHS[0])
        self.bn1 = nn.BatchNorm2d(WIDTHS[0], eps=BN_EPS)
        self.prelu = nn.PReLU(WIDTHS[0])
        cin = WIDTHS[0]
        for index, (count, width) in enumerate(zip(layers, WIDTHS), start=1):
            blocks = [IBasicBlock(cin, width, stride=2)] + [IBasicBlock(width, width) for _ in range(count - 1)]
            setattr(self, f"layer{index}", nn.Sequential(*blocks))
            cin = width
        side = input_size // 16
        self.bn2 = nn.BatchNorm2d(WIDTHS[-1], eps=BN_EPS)
        self.dropout = nn.Dropout(p=dropout)
        self.fc = nn.Linear(WIDTHS[-1] * side * side, self.num_features)
        self.features = nn.BatchNorm1d(self.num_features, eps=BN_EPS)
        nn.init.constant_(self.features.weight, 1.0)
        self.features.weight.requires_grad_(False)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.normal_(module.weight, 0.0, 0.1)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.prelu(self.bn1(self.conv1(images)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = self.dropout(self.bn2(x)).flatten(1)
        return self.features(self.fc(x))


class IResNetStem(nn.Module):
    """Kit stem: (B, 3, 112, 112) -> (B, F, 1, 1) (pooling is then the identity)."""

    def __init__(self, name: str, num_features: int = 512):
        super().__init__()
        self.body = IResNet(LAYERS[name], num_features)
        self.out_channels = num_features

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.body(images)[:, :, None, None]


def default_weights_file(name: str) -> Path:
    """``$PML_CACHE/weights/<name>.pth`` (``$PML_CACHE`` defaults to ``~/.cache/pml-kit``)."""
    return Path(os.environ.get("PML_CACHE") or "~/.cache/pml-kit").expanduser() / "weights" / f"{name}.pth"


def insightface_state_dict(state) -> dict:
    """An InsightFace checkpoint (a state dict, maybe wrapped / DDP-prefixed) -> our IResNet names."""
    for key in ("state_dict", "model", "backbone"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    out = {}
    for key, value in state.items():
        for prefix in ("module.", "backbone."):
            if key.startswith(prefix):
                key = key[len(prefix):]
        out[key] = value
    return out


def load_iresnet_weights(body: IResNet, name: str, path: str | Path | None) -> None:
    """Load user-provided InsightFace weights into ``body`` (strict); DataError naming the file if missing or wrong."""
    file = Path(path).expanduser() if path else default_weights_file(name)
    if not file.is_file():
        raise DataError(f"pretrained weights of model_type {name!r} not found at {file}; nothing is downloaded: "
                        f"put an InsightFace ArcFace {name.replace('iresnet', 'r')} backbone.pth there or set "
                        "embedder_params.pretrained_path, or train from scratch with embedder_params.pretrained: false")
    try:
        state = torch.load(file, map_location="cpu", weights_only=True)
        body.load_state_dict(insightface_state_dict(state), strict=True)
    except Exception as error:
        raise DataError(f"cannot load pretrained weights of {name!r} from {file}: {str(error).splitlines()[0]} "
                        "(expected an InsightFace iResNet state dict with a 512-D fc)") from None


def build_iresnet_stem(name: str, pretrained: bool = False, pretrained_path: str | None = None) -> IResNetStem:
    stem = IResNetStem(name)
    if pretrained:
        load_iresnet_weights(stem.body, name, pretrained_path)
    return stem
