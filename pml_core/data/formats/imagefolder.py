"""Your own images (`imagefolder`, configs/datasets/imagefolder.yaml; walkthrough in docs/datasets.md).

``<root>/train/<class>/*`` with ``<root>/test/<class>/*`` (or ``val/``): closed set, the folders' split; the
test classes are a subset of the train classes. Otherwise ``<root>/<class>/*``: open set, the first half of the
sorted class names trains, the second half tests (docs/reference.md §8.1). Hidden entries (``.image-cache``,
``.ipynb_checkpoints``, ...) are skipped. A class folder without images is refused with every such folder named:
it would still take a class slot and move the open-set boundary.
"""

from __future__ import annotations

from pathlib import Path

from ...errors import DataError
from ..base import ImageListDataset
from ..splits import split_classes

EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm")
HINT = "arrange the images as <root>/<class>/<image> (open set) or <root>/train|test/<class>/<image> (closed set)"
MIN_OPEN_SET_CLASSES = 4  # two per half: retrieval needs two classes in the train and in the test half


def _visible(path: Path) -> bool:
    return not path.name.startswith(".")


def class_folders(folder: Path) -> list[str]:
    """Sorted names of the visible sub-folders of ``folder``."""
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and _visible(p))


def image_files(folder: Path) -> list[Path]:
    """Sorted visible image files directly in ``folder`` (extensions of `EXTENSIONS`, any case)."""
    return sorted(p for p in folder.iterdir() if p.is_file() and _visible(p) and p.suffix.lower() in EXTENSIONS)


def _empty_class_error(folder: Path, empty: list[str]) -> DataError:
    details = []
    for name in empty:
        entries = [p for p in (folder / name).iterdir() if _visible(p)]
        nested = sum(p.is_dir() for p in entries)
        other = len(entries) - nested
        what = "empty" if not entries else ", ".join(
            part for part in (f"{nested} sub-folder(s)" if nested else "", f"{other} non-image file(s)" if other else "")
            if part)
        details.append(f"{name}/ ({what})")
    return DataError(f"{folder}: {len(empty)} class folder(s) hold no image: {'; '.join(details)}. Put the images "
                     f"directly in each class folder ({', '.join(EXTENSIONS)}) or remove the folder: an empty class "
                     f"still takes a class slot and shifts the open-set split")


def scan(folder: Path, classes: list[str] | None = None) -> ImageListDataset:
    """Images of ``folder/<class>/``, labels by position in ``classes`` (default: the sorted class folders).

    With ``classes`` given (a closed-set test folder), a class folder of ``folder`` outside it is a DataError;
    a class of ``classes`` without a folder is allowed (that class is not tested)."""
    present = class_folders(folder)
    if classes is not None:
        unknown = sorted(set(present) - set(classes))
        if unknown:
            raise DataError(f"{folder}: class folder(s) {', '.join(unknown)} have no counterpart in the train folder; "
                            f"a closed-set test folder may only hold train classes; {HINT}")
    names = classes if classes is not None else present
    if not present:
        loose = len(image_files(folder))
        found = f"{loose} images lie directly in it" if loose else "it holds no class folder"
        raise DataError(f"no class folders under {folder} ({found}); {HINT}")
    files = {name: image_files(folder / name) for name in present}
    empty = [name for name in present if not files[name]]
    if empty:
        raise _empty_class_error(folder, empty)
    paths, labels = [], []
    for label, name in enumerate(names):
        paths += files.get(name, [])
        labels += [label] * len(files.get(name, []))
    dataset = ImageListDataset(paths, labels, hint=HINT)
    dataset.class_names = list(names)
    return dataset


def _too_few(folder: Path, count: int, needed: int, why: str) -> DataError:
    return DataError(f"{folder}: {count} class folder(s), {why} needs at least {needed}; add class folders; {HINT}")


def imagefolder(params, root):
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"image folder {root} does not exist; {HINT}")
    test_folder = next((root / n for n in ("test", "val") if (root / n).is_dir()), None)
    if (root / "train").is_dir() != (test_folder is not None):
        have, lack = ("train/", "test/ or val/") if (root / "train").is_dir() else (f"{test_folder.name}/", "train/")
        raise DataError(f"{root} has {have} but no {lack} beside it; a closed set needs both, an open set "
                        f"has only class folders; {HINT}")
    if test_folder is not None:
        train = scan(root / "train")
        if len(train.class_names) < 2:
            raise _too_few(root / "train", len(train.class_names), 2, "training")
        test = scan(test_folder, train.class_names)
        tested = len(set(test.labels.tolist()))
        if tested < 2:
            raise _too_few(test_folder, tested, 2, "retrieval")
        train.openset = test.openset = False
        return train, {"imagefolder": test}
    full = scan(root)
    if len(full.class_names) < MIN_OPEN_SET_CLASSES:
        raise _too_few(root, len(full.class_names), MIN_OPEN_SET_CLASSES,
                       "an open-set split (two classes train, two test)")
    train, test = split_classes(full, 0.5)
    half = train.num_classes
    train.class_names, test.class_names = full.class_names[:half], full.class_names[half:]
    return train, {"imagefolder": test}
