"""Generic image folders.

``<root>/train/<class>/*`` with ``<root>/test/<class>/*`` (or ``val/``): closed set, official split.
Otherwise ``<root>/<class>/*``: open set, first half of the sorted class names trains, second half tests.
"""

from __future__ import annotations

from pathlib import Path

from ...errors import DataError
from ..base import ImageListDataset
from ..splits import split_classes

EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm"}
HINT = "arrange the images as <root>/<class>/<image> (open set) or <root>/train|test/<class>/<image> (closed set)"


def scan(folder: Path, classes: list[str] | None = None) -> ImageListDataset:
    names = classes if classes is not None else sorted(p.name for p in folder.iterdir() if p.is_dir())
    paths, labels = [], []
    for label, name in enumerate(names):
        files = sorted(p for p in (folder / name).glob("*") if p.suffix.lower() in EXTENSIONS) if (folder / name).is_dir() else []
        paths += files
        labels += [label] * len(files)
    if not paths:
        raise DataError(f"no images found under {folder}; {HINT}")
    dataset = ImageListDataset(paths, labels, hint=HINT)
    dataset.class_names = names
    return dataset


def imagefolder(params, root):
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"image folder {root} does not exist; {HINT}")
    test_folder = next((root / n for n in ("test", "val") if (root / n).is_dir()), None)
    if (root / "train").is_dir() and test_folder is not None:
        train = scan(root / "train")
        train.openset = False
        test = scan(test_folder, train.class_names)
        test.openset = False
        return train, {"imagefolder": test}
    train, test = split_classes(scan(root), 0.5)
    return train, {"imagefolder": test}
