"""Stanford Cars196 (docs/reference.md §8.2): devkit/*.mat annotations (scipy.io), cars_train/, cars_test/."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import DataError
from ..base import ImageListDataset
from ..splits import split_classes
from .common import locate, prep_hint

SCRIPT = "cars196"
ANNOTATIONS = (("devkit/cars_train_annos.mat", "cars_train"), ("devkit/cars_test_annos_withlabels.mat", "cars_test"))


def read_annotations(path: Path) -> tuple[list[str], np.ndarray]:
    """(file names, 1-based classes) of a Cars .mat annotation file."""
    import scipy.io

    if not path.is_file():
        raise DataError(f"{path} is missing; {prep_hint(SCRIPT)}")
    try:
        mat = scipy.io.loadmat(str(path), squeeze_me=True)
        annotations = np.atleast_1d(mat["annotations"])
        names = [str(name) for name in np.atleast_1d(annotations["fname"])]
        classes = np.asarray(np.atleast_1d(annotations["class"]), np.int64)
    except (KeyError, ValueError, TypeError, OSError, IndexError) as error:
        raise DataError(f"{path} is not a Cars annotation file with annotations.fname / annotations.class "
                        f"({error}); {prep_hint(SCRIPT)}") from None
    return names, classes


def cars_merged(root) -> ImageListDataset:
    folder = locate(root, "devkit", ("cars196", "stanford_cars"), SCRIPT)
    paths, labels, parts = [], [], []
    for annotation, images in ANNOTATIONS:
        names, classes = read_annotations(folder / annotation)
        paths += [folder / images / name for name in names]
        labels.append(classes - 1)
        parts.append(set((classes - 1).tolist()))
    labels = np.concatenate(labels)
    num_classes = int(labels.max()) + 1 if len(labels) else 0
    if labels.min(initial=0) < 0 or any(part != set(range(num_classes)) for part in parts):
        raise DataError(f"{folder}: classes must be 1..{num_classes} in both annotation files; {prep_hint(SCRIPT)}")
    return ImageListDataset(paths, labels, hint=prep_hint(SCRIPT))


def cars196_openset(params, root):
    train, test = split_classes(cars_merged(root), 0.5)
    return train, {"cars196": test}


def cars196_interleave_openset(params, root):
    train, test = split_classes(cars_merged(root), 0.5, interleave=True)
    return train, {"cars196": test}
