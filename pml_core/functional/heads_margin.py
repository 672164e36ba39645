"""Margin heads on the sphere: ArcFace and CosFace logits (docs/reference.md §2.2, §2.3).

Margins are in **radians** for ArcFace and in cosine units for CosFace; ``scale`` multiplies the cosines.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def cosine_matrix(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """cos_bc = <x_b/||x_b||, W_c/||W_c||>: (B, D), (C, D) -> (B, C) (norms clamped at 1e-12)."""
    return F.normalize(x, dim=-1) @ F.normalize(weight, dim=-1).transpose(-1, -2)


def one_hot_like(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Boolean (B, C) mask of the target entries."""
    return F.one_hot(labels.long(), logits.shape[-1]).bool()


def arcface_logits(x: torch.Tensor, weight: torch.Tensor, labels: torch.Tensor | None = None,
                   scale: float | torch.Tensor = 64.0, margin: float = 0.5, eps: float = 1e-6) -> torch.Tensor:
    """ArcFace logits (B, C).

    Without labels: s * cos. With labels: theta = arccos(clip(cos, -1+eps, 1-eps)); the target entry is
    s * cos(theta + m) if theta <= pi - m, else s * cos(theta) (no margin past the threshold); other
    entries s * cos(theta) (the clipped cosine).
    x (B, D), weight (C, D), labels (B,) int.
    """
    cos = cosine_matrix(x, weight)
    if labels is None:
        return scale * cos
    clipped = cos.clamp(-1 + eps, 1 - eps)
    theta = torch.acos(clipped)
    target = one_hot_like(cos, labels)
    with_margin = torch.where(theta <= math.pi - margin, torch.cos(theta + margin), clipped)
    return scale * torch.where(target, with_margin, clipped)


def cosface_logits(x: torch.Tensor, weight: torch.Tensor, labels: torch.Tensor | None = None,
                   scale: float | torch.Tensor = 64.0, margin: float = 0.35, symmetric: bool = False) -> torch.Tensor:
    """CosFace logits (B, C): s * (cos - m [c = y]); ``symmetric`` adds s*m/2 to every entry (also without labels)."""
    cos = cosine_matrix(x, weight)
    if labels is not None:
        cos = cos - margin * one_hot_like(cos, labels).to(cos.dtype)
    logits = scale * cos
    if symmetric:
        logits = logits + 0.5 * margin * scale
    return logits
