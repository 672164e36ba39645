"""Stanford Cars196 in either official form (docs/reference.md §8.2), read with scipy.io:

* devkit: ``devkit/cars_train_annos.mat`` + ``devkit/cars_test_annos_withlabels.mat`` (``annotations.fname``,
  ``annotations.class``), images in ``cars_train/`` and ``cars_test/``;
* single file: ``cars_annos.mat`` (``annotations.relative_im_path``, ``.class``, ``.test``; ``class_names``) with
  the images in ``car_ims/``.

Both give the official train part then the official test part, classes 1..196 -> labels 0..195; the open-set
split is classes 1-98 / 99-196 either way. The forms number the images differently, so the order of the images
within a part (and hence a seeded run's batches) differs between them; counts and classes do not.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import DataError
from ..base import ImageListDataset
from ..splits import split_classes
from .common import prep_hint

SCRIPT = "cars196"
SUBFOLDERS = ("cars196", "stanford_cars")
ANNOTATIONS = (("devkit/cars_train_annos.mat", "cars_train"), ("devkit/cars_test_annos_withlabels.mat", "cars_test"))
SINGLE_FILE = "cars_annos.mat"


def _load_annotations(path: Path, fields: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The ``annotations`` struct array of a Cars .mat file, one 1-D array per field."""
    import scipy.io

    if not path.is_file():
        raise DataError(f"{path} is missing; {prep_hint(SCRIPT)}")
    try:
        annotations = np.atleast_1d(scipy.io.loadmat(str(path), squeeze_me=True)["annotations"])
        return {name: np.atleast_1d(annotations[name]) for name in fields}
    except (KeyError, ValueError, TypeError, OSError, IndexError) as error:
        wanted = " / ".join(f"annotations.{name}" for name in fields)
        raise DataError(f"{path} is not a Cars annotation file with {wanted} ({error}); {prep_hint(SCRIPT)}") from None


def read_annotations(path: Path) -> tuple[list[str], np.ndarray]:
    """(file names, 1-based classes) of a devkit annotation file."""
    columns = _load_annotations(path, ("fname", "class"))
    return [str(name) for name in columns["fname"]], np.asarray(columns["class"], np.int64)


def read_single_file(path: Path) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(relative image paths, 1-based classes, is-test flags) of ``cars_annos.mat``."""
    columns = _load_annotations(path, ("relative_im_path", "class", "test"))
    return ([str(name) for name in columns["relative_im_path"]], np.asarray(columns["class"], np.int64),
            np.asarray(columns["test"]).astype(bool))


def find_cars_folder(root) -> tuple[Path, str]:
    """(folder, form): the folder holding ``devkit/`` ("devkit") or ``cars_annos.mat`` ("single"), root first."""
    root = Path(root)
    for candidate in (root, *(root / name for name in SUBFOLDERS)):
        if all((candidate / annotation).is_file() for annotation, _ in ANNOTATIONS):
            return candidate, "devkit"
        if (candidate / SINGLE_FILE).is_file():
            return candidate, "single"
        if (candidate / "devkit").is_dir():
            return candidate, "devkit"  # incomplete devkit: read_annotations names the missing file
    looked = ", ".join(str(c) for c in (root, *(root / n for n in SUBFOLDERS)))
    raise DataError(f"Cars196 not found: neither devkit/cars_train_annos.mat nor {SINGLE_FILE} under {looked}; "
                    f"{prep_hint(SCRIPT)}")


def _check_classes(folder: Path, labels: list[np.ndarray]) -> np.ndarray:
    merged = np.concatenate(labels)
    num_classes = int(merged.max()) + 1 if len(merged) else 0
    if merged.min(initial=0) < 0 or any(set(part.tolist()) != set(range(num_classes)) for part in labels):
        raise DataError(f"{folder}: classes must be 1..{num_classes} in both the train and the test part; "
                        f"{prep_hint(SCRIPT)}")
    return merged


def cars_merged(root) -> ImageListDataset:
    """The official train part then the official test part, labels 0-based."""
    folder, form = find_cars_folder(root)
    paths, labels = [], []
    if form == "devkit":
        for annotation, images in ANNOTATIONS:
            names, classes = read_annotations(folder / annotation)
            paths += [folder / images / name for name in names]
            labels.append(classes - 1)
    else:
        names, classes, is_test = read_single_file(folder / SINGLE_FILE)
        for part in (~is_test, is_test):
            paths += [folder / name for name, keep in zip(names, part) if keep]
            labels.append(classes[part] - 1)
    return ImageListDataset(paths, _check_classes(folder, labels), hint=prep_hint(SCRIPT))


def cars196_openset(params, root):
    train, test = split_classes(cars_merged(root), 0.5)
    return train, {"cars196": test}


def cars196_interleave_openset(params, root):
    train, test = split_classes(cars_merged(root), 0.5, interleave=True)
    return train, {"cars196": test}
