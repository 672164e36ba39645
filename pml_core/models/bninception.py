"""BN-Inception stem (pretrainedmodels layout, BGR 0-255 input; REFERENCE.md 5.2).

Not written yet: building it raises a ConfigError so that configs fail early with a clear message.
"""

from __future__ import annotations

from torch import nn

from ..errors import ConfigError


class BNInceptionStem(nn.Module):
    out_channels = 1024

    def __init__(self, pretrained: bool = False, path: str | None = None):
        super().__init__()
        raise ConfigError("model_type 'bninception' is not implemented in this kit yet; use resnet50, "
                          "timm:<name> or small_cnn (embedder_params.model_type)")
