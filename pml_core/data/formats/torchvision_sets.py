"""MNIST / CIFAR-10 / CIFAR-100 / SVHN from local torchvision-format folders (never downloaded)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import DataError
from ..base import ArrayDataset, ConcatDataset
from ..splits import split_classes


def _load(kind: str, root: Path, train: bool) -> ArrayDataset:
    import torchvision.datasets as tv

    hint = (f"put the torchvision-format {kind} files under {root} (torchvision.datasets.{kind}"
            f"(root, download=True) on a machine with network, then copy the folder); nothing is downloaded here")
    try:
        if kind == "SVHN":
            data = tv.SVHN(str(root), split="train" if train else "test", download=False)
            images, labels = np.asarray(data.data).transpose(0, 2, 3, 1), np.asarray(data.labels)
        else:
            data = getattr(tv, kind)(str(root), train=train, download=False)
            images = np.asarray(data.data)
            labels = np.asarray(data.targets)
    except (RuntimeError, OSError, FileNotFoundError) as error:
        raise DataError(f"{kind} not found under {root} ({error}); {hint}") from None
    if images.ndim == 3:  # MNIST: (N, 28, 28) gray
        images = np.repeat(images[..., None], 3, axis=-1)
    return ArrayDataset(np.ascontiguousarray(images, dtype=np.uint8), labels, openset=False)


def _closed(kind: str, name: str):
    def constructor(params, root):
        return _load(kind, Path(root), True), {name: _load(kind, Path(root), False)}

    return constructor


mnist = _closed("MNIST", "mnist")
cifar10 = _closed("CIFAR10", "cifar10")
cifar100 = _closed("CIFAR100", "cifar100")
svhn = _closed("SVHN", "svhn")


def mnist_openset(params, root):
    merged = ConcatDataset([_load("MNIST", Path(root), True), _load("MNIST", Path(root), False)])
    train, test = split_classes(merged, 0.5)
    return train, {"mnist": test}
