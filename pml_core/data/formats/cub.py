"""CUB-200-2011 (docs/reference.md §8.2): images.txt, image_class_labels.txt, train_test_split.txt, images/."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import DataError
from ..base import ImageListDataset
from ..splits import split_classes
from .common import bad_line, locate, prep_hint, read_lines

SCRIPT = "cub200"
NUM_CLASSES = 200


def _table(path: Path, kind) -> dict[int, object]:
    table = {}
    for number, line in enumerate(read_lines(path, SCRIPT), 1):
        fields = line.split(maxsplit=1)
        try:
            table[int(fields[0])] = kind(fields[1].strip())
        except (ValueError, IndexError):
            raise bad_line(path, number, line, "'<image id> <value>'", SCRIPT) from None
    return table


def cub_merged(root) -> ImageListDataset:
    """All CUB images, the official train part then the test part; label = class - 1."""
    folder = locate(root, "images.txt", ("CUB_200_2011", "cub200"), SCRIPT)
    paths = _table(folder / "images.txt", str)
    classes = _table(folder / "image_class_labels.txt", int)
    is_train = _table(folder / "train_test_split.txt", int)
    if set(paths) != set(classes) or set(paths) != set(is_train):
        raise DataError(f"{folder}: images.txt, image_class_labels.txt and train_test_split.txt list different "
                        f"image ids; {prep_hint(SCRIPT)}")
    ids = sorted(paths)
    ordered = [i for i in ids if is_train[i] == 1] + [i for i in ids if is_train[i] != 1]
    labels = np.array([classes[i] - 1 for i in ordered], np.int64)
    num_classes = int(labels.max()) + 1 if len(labels) else 0
    train_labels = {classes[i] - 1 for i in ids if is_train[i] == 1}
    test_labels = {classes[i] - 1 for i in ids if is_train[i] != 1}
    if labels.min(initial=0) < 0 or train_labels != set(range(num_classes)) or test_labels != set(range(num_classes)):
        raise DataError(f"{folder}: classes must be 1..{num_classes} and both official parts must contain every "
                        f"class; {prep_hint(SCRIPT)}")
    return ImageListDataset([folder / "images" / paths[i] for i in ordered], labels, hint=prep_hint(SCRIPT))


def cub200_openset(params, root):
    train, test = split_classes(cub_merged(root), 0.5)
    return train, {"cub200": test}


def cub200_interleave_openset(params, root):
    train, test = split_classes(cub_merged(root), 0.5, interleave=True)
    return train, {"cub200": test}
