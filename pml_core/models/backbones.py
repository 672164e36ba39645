"""Backbones (`embedder_params.model_type`): a stem that maps images to the last feature map.

| name | source | out channels |
|---|---|---|
| `small_cnn` | this package (embedded default, 32 px) | 128 |
| `resnet18/34/50/101`, `wide_resnet50_2/101_2` | torchvision | 512 / 2048 |
| `efficientnet_v2_s/m/l` | torchvision | 1280 |
| `bninception` | this package (pretrainedmodels layout, BGR 0-255 input) | 1024 |
| `iresnet50/100` | this package (InsightFace face backbone, 112 px, features as a 1x1 map) | 512 |
| `timm:<name>` | any timm model (`forward_features`) | `num_features` |

Pretrained weights load only when ``pretrained`` is true, from local files only; nothing is ever downloaded.
A missing file is a DataError that names the file, where it comes from and where to put it:

* torchvision: ``embedder_params.pretrained_path`` or torchvision's cache
  ``$TORCH_HOME/hub/checkpoints/<file of the DEFAULT weights>`` (default ``~/.cache/torch``);
* timm: ``pretrained_path``, ``$PML_CACHE/weights/timm/<name>.safetensors|.pth``, the Hugging Face cache of the
  model's ``hf_hub_id`` or torchvision's cache (the ``url`` file name of timm's pretrained config);
* `bninception`: ``pretrained_path`` or ``$PML_CACHE/weights/bn_inception-52deb4733.pth`` (see `bninception.py`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch
from torch import nn

from ..errors import ConfigError, DataError
from ..registry import lookup
from .bninception import default_weights_path
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


def _missing_weights(name: str, places: list[Path], source: str) -> DataError:
    listed = ", ".join(str(p) for p in places)
    return DataError(f"pretrained weights of model_type {name!r} not found (looked at {listed}); nothing is downloaded: "
                     f"get them from {source}, put the file at {places[0]} or set embedder_params.pretrained_path, "
                     "or train from scratch with embedder_params.pretrained: false")


def _load_local(model: nn.Module, name: str, file: Path) -> None:
    try:
        state = torch.load(file, map_location="cpu", weights_only=True)
        model.load_state_dict(state, strict=True)
    except Exception as error:
        raise DataError(f"cannot load pretrained weights of {name!r} from {file}: {str(error).splitlines()[0]}") from None


def _torchvision_model(name: str, pretrained: bool, pretrained_path: str | None) -> nn.Module:
    """The torchvision model ``name``, with its DEFAULT ImageNet weights from a local file when ``pretrained``."""
    import torchvision

    model = getattr(torchvision.models, name)(weights=None)
    if pretrained:
        url = torchvision.models.get_model_weights(name).DEFAULT.url
        file = Path(pretrained_path).expanduser() if pretrained_path else \
            Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]
        if not file.is_file():
            raise _missing_weights(name, [file], url)
        _load_local(model, name, file)
    return model


def _torchvision_resnet(name: str) -> Callable[..., Stem]:
    def build(pretrained: bool, pretrained_path: str | None = None, **_) -> Stem:
        model = _torchvision_model(name, pretrained, pretrained_path)
        out_channels = model.fc.in_features
        body = nn.Sequential(*list(model.children())[:-2])  # drop avgpool and fc
        return Stem(body, out_channels)

    return build


def _torchvision_efficientnet(name: str) -> Callable[..., Stem]:
    def build(pretrained: bool, pretrained_path: str | None = None, **_) -> Stem:
        model = _torchvision_model(name, pretrained, pretrained_path)
        out_channels = model.classifier[-1].in_features
        return Stem(model.features, out_channels)

    return build


def _bninception(pretrained: bool, pretrained_path: str | None = None, **_) -> Stem:
    from .bninception import BNInceptionStem

    body = BNInceptionStem(pretrained=pretrained, path=pretrained_path)
    return Stem(body, body.out_channels)


def _iresnet(name: str) -> Callable[..., Stem]:
    def build(pretrained: bool, pretrained_path: str | None = None, **_) -> Stem:
        from .iresnet import build_iresnet_stem  # face backbones (iresnet.py): 112x112 -> (B, 512, 1, 1)

        body = build_iresnet_stem(name, pretrained, pretrained_path)
        return Stem(body, body.out_channels)

    return build


def _timm_weight_files(name: str, cfg: dict, pretrained_path: str | None) -> list[Path]:
    """Local places of a timm model's pretrained weights, in the order they are tried."""
    if pretrained_path:
        return [Path(pretrained_path).expanduser()]
    cache = default_weights_path().parent / "timm"
    places = [cache / f"{name}.safetensors", cache / f"{name}.pth"]
    if cfg.get("hf_hub_id"):
        try:
            from huggingface_hub import try_to_load_from_cache

            for filename in ("model.safetensors", "pytorch_model.bin"):
                found = try_to_load_from_cache(cfg["hf_hub_id"], filename)
                if isinstance(found, str):
                    places.append(Path(found))
        except ImportError:
            pass
    if cfg.get("url"):
        places.append(Path(torch.hub.get_dir()) / "checkpoints" / cfg["url"].rsplit("/", 1)[-1])
    return places


def _timm(name: str, pretrained: bool, pretrained_path: str | None = None) -> Stem:
    import timm

    try:
        model = timm.create_model(name, pretrained=False, num_classes=0, global_pool="")
    except RuntimeError as error:  # unknown model name
        raise ConfigError(f"timm cannot build model_type 'timm:{name}': {error}") from None
    if pretrained:
        cfg = dict(getattr(model, "pretrained_cfg", None) or {})
        places = _timm_weight_files(name, cfg, pretrained_path)
        file = next((p for p in places if p.is_file()), None)
        if file is None:
            source = f"the Hugging Face hub ({cfg['hf_hub_id']})" if cfg.get("hf_hub_id") else cfg.get("url") or "timm"
            raise _missing_weights(f"timm:{name}", places, source)
        try:
            model = timm.create_model(name, pretrained=True, num_classes=0, global_pool="",
                                      pretrained_cfg_overlay={"file": str(file), "hf_hub_id": None, "url": None})
        except Exception as error:
            raise DataError(f"cannot load pretrained weights of 'timm:{name}' from {file}: "
                            f"{str(error).splitlines()[0]}") from None
    return Stem(model, model.num_features, features_fn="forward_features")


BACKBONES: dict[str, Callable[..., Stem]] = {
    "small_cnn": _small_cnn,
    **{name: _torchvision_resnet(name) for name in ("resnet18", "resnet34", "resnet50", "resnet101", "wide_resnet50_2", "wide_resnet101_2")},
    **{name: _torchvision_efficientnet(name) for name in ("efficientnet_v2_s", "efficientnet_v2_m", "efficientnet_v2_l")},
    "bninception": _bninception,
    **{name: _iresnet(name) for name in ("iresnet50", "iresnet100")},
}


def make_stem(model_type: str, pretrained: bool = False, pretrained_path: str | None = None) -> Stem:
    """Build the stem named by ``model_type`` (``timm:<name>`` for any timm model)."""
    if model_type.startswith("timm:"):
        return _timm(model_type[len("timm:"):], pretrained, pretrained_path)
    builder = lookup("embedder_params.model_type", {**BACKBONES, "timm:<name>": None}, model_type)
    if builder is None:
        raise ConfigError("write the timm model name after 'timm:', e.g. model_type: timm:resnet18")
    return builder(pretrained=pretrained, pretrained_path=pretrained_path)
