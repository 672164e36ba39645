"""BN-Inception stem (Ioffe & Szegedy 2015) in the layout of the pretrainedmodels port (docs/reference.md §5.2).

``(B, 3, H, W)`` RGB, normalised with mean (0.502, 0.459, 0.408) and std 1/255 (so values are 0-255 minus the
ImageNet mean) -> ``(B, 1024, H/32, W/32)`` (7x7 at 224 px). The stem flips RGB -> BGR itself: the ImageNet
weights were trained on BGR input (Caffe).

Layers: conv1 7x7/2 (64) -> max pool 3/2 -> conv2 1x1 (64) -> conv2 3x3 (192) -> max pool 3/2 -> inception 3a, 3b,
3c (stride 2) -> 4a, 4b, 4c, 4d, 4e (stride 2) -> 5a, 5b. Every convolution has a bias and is followed by
``BatchNorm2d(eps=1e-5, affine)`` and a ReLU; pooling layers use ``ceil_mode`` as in Caffe. Parameter names are
those of the ImageNet weights file ``bn_inception-52deb4733.pth`` (``conv1_7x7_s2.weight``,
``inception_3a_1x1_bn.running_mean``, ...), whose ``last_linear.*`` classifier is dropped on load.

Weights load only when ``pretrained`` is true, from ``path`` or ``$PML_CACHE/weights/bn_inception-52deb4733.pth``
(default cache ``~/.cache/pml-kit``); nothing is ever downloaded.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from ..errors import DataError

WEIGHTS_FILE = "bn_inception-52deb4733.pth"
WEIGHTS_URL = "http://data.lip6.fr/cadene/pretrainedmodels/bn_inception-52deb4733.pth"
BN_EPS = 1e-5

# Inception blocks: name, input channels, 1x1, (3x3 reduce, 3x3), (double reduce, double 3x3), pool ("avg"/"max"),
# pool projection (0: none), stride. A block with stride 2 has no 1x1 branch and no pool projection.
BLOCKS = (
    ("3a", 192, 64, (64, 64), (64, 96), "avg", 32, 1),
    ("3b", 256, 64, (64, 96), (64, 96), "avg", 64, 1),
    ("3c", 320, 0, (128, 160), (64, 96), "max", 0, 2),
    ("4a", 576, 224, (64, 96), (96, 128), "avg", 128, 1),
    ("4b", 576, 192, (96, 128), (96, 128), "avg", 128, 1),
    ("4c", 576, 160, (128, 160), (128, 160), "avg", 128, 1),
    ("4d", 608, 96, (128, 192), (160, 192), "avg", 128, 1),
    ("4e", 608, 0, (128, 192), (192, 256), "max", 0, 2),
    ("5a", 1056, 352, (192, 320), (160, 224), "avg", 128, 1),
    ("5b", 1024, 352, (192, 320), (192, 224), "max", 128, 1),
)


def default_weights_path() -> Path:
    """``$PML_CACHE/weights/bn_inception-52deb4733.pth`` (``$PML_CACHE`` defaults to ``~/.cache/pml-kit``)."""
    cache = os.environ.get("PML_CACHE")
    return Path(cache or "~/.cache/pml-kit").expanduser() / "weights" / WEIGHTS_FILE


class BNInceptionStem(nn.Module):
    """BN-Inception feature extractor: (B, 3, H, W) RGB -> (B, 1024, ceil(H/32), ceil(W/32))."""

    out_channels = 1024

    def __init__(self, pretrained: bool = False, path: str | None = None):
        super().__init__()
        self._conv("conv1_7x7_s2", 3, 64, 7, stride=2, padding=3)
        self.pool1_3x3_s2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self._conv("conv2_3x3_reduce", 64, 64, 1)
        self._conv("conv2_3x3", 64, 192, 3, padding=1)
        self.pool2_3x3_s2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self._blocks = []
        for name, cin, c1, (r3, c3), (rd, cd), pool, proj, stride in BLOCKS:
            prefix = f"inception_{name}"
            if c1:
                self._conv(f"{prefix}_1x1", cin, c1, 1)
            self._conv(f"{prefix}_3x3_reduce", cin, r3, 1)
            self._conv(f"{prefix}_3x3", r3, c3, 3, stride=stride, padding=1)
            self._conv(f"{prefix}_double_3x3_reduce", cin, rd, 1)
            self._conv(f"{prefix}_double_3x3_1", rd, cd, 3, padding=1)
            self._conv(f"{prefix}_double_3x3_2", cd, cd, 3, stride=stride, padding=1)
            if pool == "avg":
                layer = nn.AvgPool2d(3, stride=1, padding=1, ceil_mode=True, count_include_pad=True)
            else:
                layer = nn.MaxPool2d(3, stride=stride, padding=1 if stride == 1 else 0, ceil_mode=True)
            setattr(self, f"{prefix}_pool", layer)
            if proj:
                self._conv(f"{prefix}_pool_proj", cin, proj, 1)
            self._blocks.append((prefix, bool(c1), bool(proj)))
        if pretrained:
            self.load_weights(path)

    def _conv(self, name: str, cin: int, cout: int, kernel: int, stride: int = 1, padding: int = 0) -> None:
        setattr(self, name, nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding, bias=True))
        setattr(self, f"{name}_bn", nn.BatchNorm2d(cout, eps=BN_EPS, affine=True))

    def _unit(self, name: str, x: torch.Tensor) -> torch.Tensor:
        """conv -> BN -> ReLU of the layer ``name``."""
        return torch.relu(getattr(self, f"{name}_bn")(getattr(self, name)(x)))

    def _inception(self, prefix: str, has_1x1: bool, has_proj: bool, x: torch.Tensor) -> torch.Tensor:
        branches = []
        if has_1x1:
            branches.append(self._unit(f"{prefix}_1x1", x))
        branches.append(self._unit(f"{prefix}_3x3", self._unit(f"{prefix}_3x3_reduce", x)))
        double = self._unit(f"{prefix}_double_3x3_reduce", x)
        branches.append(self._unit(f"{prefix}_double_3x3_2", self._unit(f"{prefix}_double_3x3_1", double)))
        pooled = getattr(self, f"{prefix}_pool")(x)
        branches.append(self._unit(f"{prefix}_pool_proj", pooled) if has_proj else pooled)
        return torch.cat(branches, dim=1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = images.flip(1)  # RGB -> BGR, the channel order of the ImageNet weights
        x = self.pool1_3x3_s2(self._unit("conv1_7x7_s2", x))
        x = self._unit("conv2_3x3", self._unit("conv2_3x3_reduce", x))
        x = self.pool2_3x3_s2(x)
        for prefix, has_1x1, has_proj in self._blocks:
            x = self._inception(prefix, has_1x1, has_proj, x)
        return x

    def load_weights(self, path: str | os.PathLike | None = None) -> None:
        """Load the ImageNet weights (``last_linear.*`` dropped, everything else strictly). Never downloads."""
        file = Path(path).expanduser() if path else default_weights_path()
        if not file.is_file():
            where = "embedder_params.pretrained_path" if path else "the kit's weights cache ($PML_CACHE/weights)"
            raise DataError(
                f"BN-Inception ImageNet weights not found at {file} ({where}). Download {WEIGHTS_FILE} from "
                f"{WEIGHTS_URL} (the pretrainedmodels package's file) and put it there, or set "
                "embedder_params.pretrained_path; or train from scratch with embedder_params.pretrained: false"
            )
        try:
            state = torch.load(file, map_location="cpu", weights_only=True)
        except Exception as error:
            raise DataError(f"cannot read BN-Inception weights {file}: {error}; download {WEIGHTS_FILE} again "
                            f"from {WEIGHTS_URL}") from None
        if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
            state = state["state_dict"]
        state = {k: v for k, v in state.items() if not k.startswith("last_linear.")}
        try:
            self.load_state_dict(state, strict=True)
        except RuntimeError as error:
            raise DataError(f"{file} is not the BN-Inception weights file {WEIGHTS_FILE}: "
                            f"{str(error).splitlines()[0]} ...") from None
