"""Positive-value parametrisations: unconstrained h -> positive y (docs/reference.md §1.1).

A parametrisation is (type, min, max, center, scale). The pre-transform x = h / scale - center is
applied before the base map f and undone (h = (u + center) * scale) after the base inverse.

| type    | f(x)                                  | log f(x)                                         | inverse of f at y        |
|---------|---------------------------------------|--------------------------------------------------|--------------------------|
| exp     | e^x + min                             | x (min = 0) / logaddexp(x, log min)              | log(y - min)             |
| invlin  | (x < 0 ? 1/(1-x) : 1+x) + min         | x >= 0: log(1+x+min); x < 0: -log(1-x) + log(1+min(1-x)) | y' = y-min; y' < 1 ? 1-1/y' : y'-1 |
| abs     | |x| + min                             | log(|x| + min)                                   | y - min (branch x >= 0)  |
| sigmoid | sigmoid(x) (max-min) + min            | log of the same                                  | logit((y-min)/(max-min)) |
| softplus| log(1+e^x) + min  (not in the reference) | log of the same                               | log(expm1(y - min))      |

``min >= 0`` always; ``max`` is required by (and only allowed for) sigmoid, with min < max.
Functions take and return tensors of any shape (...), elementwise, dtype/device preserved.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..errors import ConfigError, unknown_name_error

__all__ = ["TYPES", "Parametrization", "positive", "log_positive", "ipositive"]

TYPES = ("exp", "invlin", "abs", "sigmoid", "softplus")


@dataclass(frozen=True)
class Parametrization:
    """Immutable description of a positive map; see the module docstring for the formulas."""

    type: str = "invlin"
    min: float = 0.0
    max: float | None = None
    center: float = 0.0
    scale: float = 1.0

    def __post_init__(self):
        if self.type not in TYPES:
            raise unknown_name_error("parametrization", self.type, TYPES)
        if self.min is None or self.min < 0:
            raise ConfigError(f"parametrization min must be >= 0, got {self.min!r}; use 0 for no floor.")
        if self.type == "sigmoid":
            if self.max is None:
                raise ConfigError("parametrization 'sigmoid' needs max (the upper bound); set max > min.")
            if not self.max > self.min:
                raise ConfigError(f"parametrization 'sigmoid' needs min < max, got min={self.min}, max={self.max}.")
        elif self.max is not None:
            raise ConfigError(f"parametrization max is only allowed for 'sigmoid', not {self.type!r}; remove max.")
        if self.scale == 0:
            raise ConfigError("parametrization scale must be non-zero.")

    def positive(self, h: torch.Tensor) -> torch.Tensor:
        """y = f(h / scale - center) > 0. Shape (...) -> (...)."""
        return positive(h, self.type, self.min, self.max, self.center, self.scale)

    def log_positive(self, h: torch.Tensor) -> torch.Tensor:
        """log y, computed without forming y where that loses precision. Shape (...) -> (...)."""
        return log_positive(h, self.type, self.min, self.max, self.center, self.scale)

    def ipositive(self, y: torch.Tensor) -> torch.Tensor:
        """h such that positive(h) = y. Shape (...) -> (...)."""
        return ipositive(y, self.type, self.min, self.max, self.center, self.scale)


def _pre(h: torch.Tensor, center: float, scale: float) -> torch.Tensor:
    return h / scale - center


def positive(h, type="invlin", min=0.0, max=None, center=0.0, scale=1.0) -> torch.Tensor:
    """Positive map f(h / scale - center) (see module table). Shape (...) -> (...)."""
    x = _pre(torch.as_tensor(h), center, scale)
    if type == "exp":
        return torch.exp(x) + min
    if type == "invlin":
        neg = torch.clamp(x, max=0)  # the unused branch must not create NaN gradients
        return torch.where(x < 0, 1 / (1 - neg), 1 + torch.clamp(x, min=0)) + min
    if type == "abs":
        return torch.abs(x) + min
    if type == "sigmoid":
        return torch.sigmoid(x) * (max - min) + min
    if type == "softplus":
        return F.softplus(x) + min
    raise unknown_name_error("parametrization", type, TYPES)


def log_positive(h, type="invlin", min=0.0, max=None, center=0.0, scale=1.0) -> torch.Tensor:
    """log of ``positive`` (stable for large |h|). Shape (...) -> (...)."""
    x = _pre(torch.as_tensor(h), center, scale)
    if type == "exp":
        if min == 0:
            return x
        return torch.logaddexp(x, torch.full_like(x, math.log(min)))
    if type == "invlin":
        neg = torch.clamp(x, max=0)
        pos = torch.clamp(x, min=0)
        neg_branch = -torch.log1p(-neg) + torch.log1p(min * torch.clamp(1 - x, min=1))
        return torch.where(x < 0, neg_branch, torch.log1p(pos + min))
    if type == "abs":
        return torch.log(torch.abs(x) + min)
    if type == "sigmoid":
        if min == 0:
            return F.logsigmoid(x) + math.log(max)
        return torch.log(torch.sigmoid(x) * (max - min) + min)
    if type == "softplus":
        return torch.log(F.softplus(x) + min)
    raise unknown_name_error("parametrization", type, TYPES)


def ipositive(y, type="invlin", min=0.0, max=None, center=0.0, scale=1.0) -> torch.Tensor:
    """Inverse of ``positive`` (abs: the x >= 0 branch). Shape (...) -> (...)."""
    y = torch.as_tensor(y)
    if type == "exp":
        u = torch.log(y - min)
    elif type == "invlin":
        yp = y - min
        small = yp < 1
        u = torch.where(small, 1 - 1 / torch.where(small, yp, torch.ones_like(yp)), yp - 1)
    elif type == "abs":
        u = y - min
    elif type == "sigmoid":
        u = torch.logit((y - min) / (max - min))
    elif type == "softplus":
        yp = y - min
        u = yp + torch.log(-torch.expm1(-yp))  # log(expm1(yp)), stable for large yp
    else:
        raise unknown_name_error("parametrization", type, TYPES)
    return (u + center) * scale
