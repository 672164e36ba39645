"""Lossy test sets: centred square crops with the crop fraction as quality label (docs/reference.md §7, §13.8)."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from .base import BaseDataset


def crop_fractions(n: int, seed: int = 0, crop_range=(0.25, 1.0)) -> np.ndarray:
    """(n,) float64 crop fractions: ``np.random.seed(seed); np.random.random(n) * (max - min) + min``.

    Uses a private legacy ``RandomState(seed)`` (same stream as the reference's temporarily seeded global
    RNG) and leaves the global RNG alone.
    """
    low, high = float(crop_range[0]), float(crop_range[1])
    return np.random.RandomState(seed).random_sample(n) * (high - low) + low


def center_crop_fraction(image, fraction: float):
    """Centred square crop of side ``round(min(H, W) * fraction)`` (no-op when |fraction - 1| <= 1e-6).

    ``image``: HWC numpy array, RGB PIL image or (..., C, H, W) tensor; returns the same kind.
    Worked example: a 32x8 array of 8*row+col, fraction 0.25 -> [[123, 124], [131, 132]].
    """
    if abs(fraction - 1.0) <= 1e-6:
        return image
    if isinstance(image, Image.Image):
        width, height = image.size
    elif isinstance(image, torch.Tensor):
        height, width = image.shape[-2:]
    else:
        height, width = image.shape[:2]
    side = round(min(height, width) * fraction)
    top, left = (height - side) // 2, (width - side) // 2
    if isinstance(image, Image.Image):
        return image.crop((left, top, left + side, top + side))
    if isinstance(image, torch.Tensor):
        return image[..., top : top + side, left : left + side]
    return image[top : top + side, left : left + side]


class LossyDataset(BaseDataset):
    """``base`` with item i centre-cropped by fraction c_i; quality label = c_i; ``has_quality`` True."""

    has_quality = True

    def __init__(self, base: BaseDataset, seed: int = 0, center_crop_range=(0.25, 1.0)):
        if not base.classification:
            raise ValueError("lossy sets are built from classification sets")
        self.base = base
        self.labels = base.labels
        self.openset = base.openset
        self.fractions = crop_fractions(len(base), seed, center_crop_range)
        for name in ("query_mask", "gallery_mask"):
            if getattr(base, name, None) is not None:
                setattr(self, name, getattr(base, name))

    def image(self, index: int):
        return center_crop_fraction(self.base.image(index), float(self.fractions[index]))

    def quality(self, index: int) -> float:
        return float(self.fractions[index])
