"""Decoded-image cache (``dataset_params.image_cache: true``).

Decoding and resizing full-size JPEGs is what keeps CPU loaders from feeding a GPU. The cache decodes
every image of a file-based dataset once, resizes it (shorter side to ``size``, then a centre square
crop of ``size``) and stores the uint8 pixels in one memory-mapped ``.npy`` of shape (N, size, size, 3)
under ``<data_root>/.image-cache/<key>.npy`` (written atomically, keyed by the file list, sizes and
modification times). Later runs and every DataLoader worker map the same file.

Note: the cached image is a square crop of the original, so train-time random resized crops see the
centre square instead of the whole image (docs/deviations.md).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import DataError
from ..utils import atomic_path
from .base import BaseDataset, ImageListDataset, SubsetDataset


def _square(image: Image.Image, size: int) -> np.ndarray:
    width, height = image.size
    scale = size / min(width, height)
    resized = image.resize((max(size, round(width * scale)), max(size, round(height * scale))), Image.Resampling.BILINEAR)
    left, top = (resized.width - size) // 2, (resized.height - size) // 2
    return np.asarray(resized.crop((left, top, left + size, top + size)), np.uint8)


def _key(paths: list[str], size: int) -> str:
    digest = hashlib.sha256(str(size).encode())
    for path in paths:
        try:
            stat = os.stat(path)
            digest.update(f"{path}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
        except OSError:
            digest.update(f"{path}:missing\n".encode())
    return digest.hexdigest()[:20]


class CachedImageDataset(BaseDataset):
    """``base`` with ``image(i)`` served from the memory-mapped cache (same labels, flags and masks)."""

    def __init__(self, base: BaseDataset, pixels: np.ndarray):
        self.base = base
        self.pixels = pixels
        self.labels = base.labels
        self.openset = base.openset
        self.classification = base.classification
        self.has_quality = base.has_quality
        for name in ("query_mask", "gallery_mask", "protocol"):
            if getattr(base, name, None) is not None:
                setattr(self, name, getattr(base, name))

    def image(self, index: int) -> np.ndarray:
        return np.asarray(self.pixels[index])

    def quality(self, index: int) -> float:
        return self.base.quality(index)


def build_cache(paths: list[str], size: int, cache_root: str | Path, hint: str = "") -> np.ndarray:
    """The (N, size, size, 3) uint8 memory map of ``paths`` (created on first use)."""
    path = Path(cache_root) / ".image-cache" / f"{_key(paths, size)}.npy"
    if not path.is_file():
        from .base import decode_image

        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with atomic_path(path) as tmp:
                array = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(len(paths), size, size, 3))
                for index, file in enumerate(paths):
                    array[index] = _square(decode_image(file, hint), size)
                array.flush()
                del array
        except OSError as error:
            raise DataError(f"cannot write the image cache {path}: {error}; free disk space or set "
                            f"dataset_params.image_cache: false") from None
    return np.load(path, mmap_mode="r")


def cached(dataset: BaseDataset, size: int, cache_root: str | Path) -> BaseDataset:
    """``dataset`` served from the cache when it reads image files (directly or through a subset)."""
    if isinstance(dataset, ImageListDataset) and len(dataset):
        return CachedImageDataset(dataset, build_cache(dataset.paths, size, cache_root, dataset.hint))
    if isinstance(dataset, SubsetDataset) and isinstance(dataset.base, ImageListDataset) and len(dataset):
        paths = [dataset.base.paths[i] for i in dataset.indices]
        return CachedImageDataset(dataset, build_cache(paths, size, cache_root, dataset.base.hint))
    return dataset
