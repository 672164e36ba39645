"""Dataset objects: the common protocol and the generic containers.

Every dataset is a ``torch.utils.data.Dataset`` with
* ``labels``: (N,) int64 numpy array, dense in 0..C-1 (pair sets: 1 = same class, 0 = different);
* ``classification``: items are ``(image, label[, quality])``; False for pair (verification) sets whose
  items are ``((image1, image2), label[, (quality1, quality2)])``;
* ``openset``, ``has_quality``, ``num_classes`` (max label + 1), ``priors`` (label frequencies);
* ``image(i)``: the decoded image of item i (HWC uint8 numpy array or RGB PIL image), no transform.
Images are never transformed here; loaders apply transforms (`pml_core.data.loaders`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from ..errors import DataError


class DataWarning(UserWarning):
    """A dataset differs from its official form but is usable (absent optional bins, other image counts);
    ``data check --strict`` and ``data_prep ... --strict`` treat these as failures."""


class BaseDataset(torch.utils.data.Dataset):
    """Classification dataset protocol (docs/reference.md §8)."""

    classification: bool = True
    openset: bool = True
    has_quality: bool = False
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def num_classes(self) -> int:
        return int(self.labels.max()) + 1 if len(self.labels) else 0

    @property
    def priors(self) -> np.ndarray:
        """(C,) float64 label frequencies."""
        counts = np.bincount(self.labels, minlength=self.num_classes).astype(np.float64)
        return counts / max(1, counts.sum())

    def image(self, index: int) -> Any:
        raise NotImplementedError

    def quality(self, index: int) -> float:
        raise NotImplementedError

    def __getitem__(self, index: int):
        image = self.image(index)
        label = int(self.labels[index])
        if self.has_quality:
            return image, label, self.quality(index)
        return image, label

    def __repr__(self) -> str:
        kind = "classification" if self.classification else "pairs"
        return f"{type(self).__name__}({len(self)} items, {self.num_classes} classes, {kind})"


def as_labels(labels: Sequence[int] | np.ndarray) -> np.ndarray:
    return np.asarray(labels, dtype=np.int64).reshape(-1)


def dense_labels(labels: np.ndarray) -> np.ndarray:
    """Re-index labels densely in sorted order: [7, 3, 7, 9] -> [1, 0, 1, 2]."""
    _, dense = np.unique(labels, return_inverse=True)
    return dense.astype(np.int64).reshape(-1)


class ArrayDataset(BaseDataset):
    """Images held in a (N, H, W, 3) uint8 array (or a memory map)."""

    def __init__(self, images: np.ndarray, labels, *, qualities: np.ndarray | None = None,
                 openset: bool = True, classification: bool = True):
        self.images = images
        self.labels = as_labels(labels)
        if len(images) != len(self.labels):
            raise DataError(f"{len(images)} images but {len(self.labels)} labels")
        self.qualities = None if qualities is None else np.asarray(qualities, np.float32)
        self.has_quality = qualities is not None
        self.openset = openset
        self.classification = classification

    def image(self, index: int) -> np.ndarray:
        return np.asarray(self.images[index])

    def quality(self, index: int) -> float:
        return float(self.qualities[index])


def decode_image(path: str | Path, hint: str = "") -> Image.Image:
    """Decode an image file as RGB PIL; a missing or corrupt file is a DataError naming it and ``hint``."""
    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except FileNotFoundError:
        raise DataError(f"image file {path} is missing{'; ' + hint if hint else ''}") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as error:
        raise DataError(f"image file {path} cannot be decoded ({error}){'; ' + hint if hint else ''}") from None


def decode_bytes(data: bytes, where: str, hint: str = "") -> Image.Image:
    """Decode an encoded image held in memory (RecordIO record, .bin entry) as RGB PIL."""
    import io

    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as error:
        raise DataError(f"{where}: the image cannot be decoded ({error}){'; ' + hint if hint else ''}") from None


class ImageListDataset(BaseDataset):
    """Image files listed with their labels, decoded lazily with PIL (RGB)."""

    def __init__(self, paths: Sequence[str | Path], labels, *, openset: bool = True, hint: str = ""):
        self.paths = [str(p) for p in paths]
        self.labels = as_labels(labels)
        if len(self.paths) != len(self.labels):
            raise DataError(f"{len(self.paths)} image paths but {len(self.labels)} labels")
        self.openset = openset
        self.hint = hint  # what to do when a file is bad (the data_prep command)

    def image(self, index: int) -> Image.Image:
        return decode_image(self.paths[index], self.hint)


class SubsetDataset(BaseDataset):
    """Items ``indices`` of ``base``; labels re-indexed densely in sorted order when ``relabel``."""

    def __init__(self, base: BaseDataset, indices, *, relabel: bool = True):
        self.base = base
        self.indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        labels = base.labels[self.indices]
        self.labels = dense_labels(labels) if relabel else labels.copy()
        self.openset = base.openset
        self.classification = base.classification
        self.has_quality = base.has_quality
        for name in ("query_mask", "gallery_mask"):
            if getattr(base, name, None) is not None:
                setattr(self, name, np.asarray(getattr(base, name))[self.indices])

    def image(self, index: int):
        return self.base.image(int(self.indices[index]))

    def quality(self, index: int) -> float:
        return self.base.quality(int(self.indices[index]))

    def __getitem__(self, index: int):
        item = self.base[int(self.indices[index])]
        return (item[0], int(self.labels[index]), *item[2:])


class ConcatDataset(BaseDataset):
    """Several classification datasets one after the other, labels kept as they are."""

    def __init__(self, parts: Sequence[BaseDataset], *, openset: bool = True):
        self.parts = list(parts)
        self.offsets = np.cumsum([0] + [len(p) for p in self.parts])
        self.labels = np.concatenate([p.labels for p in self.parts]) if self.parts else np.zeros(0, np.int64)
        self.openset = openset
        self.has_quality = bool(self.parts) and all(p.has_quality for p in self.parts)

    def _locate(self, index: int) -> tuple[BaseDataset, int]:
        part = int(np.searchsorted(self.offsets, index, side="right")) - 1
        return self.parts[part], index - int(self.offsets[part])

    def image(self, index: int):
        part, local = self._locate(index)
        return part.image(local)

    def quality(self, index: int) -> float:
        part, local = self._locate(index)
        return part.quality(local)


class RepeatDataset(torch.utils.data.Dataset):
    """``base`` repeated ``times`` times (index modulo length), docs/reference.md §8.4."""

    def __init__(self, base, times: int):
        self.base = base
        self.times = int(times)
        self.labels = np.tile(base.labels, self.times)

    def __len__(self) -> int:
        return len(self.base) * self.times

    def __getitem__(self, index: int):
        return self.base[index % len(self.base)]
