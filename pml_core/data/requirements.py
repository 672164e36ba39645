"""What a run needs of its splits: classes for retrieval, classes for the validation folds, items and classes
for a training batch. One set of rules for `build_datasets`, the train loader and ``data check``, so that
the check and a run give the same verdict with the same message (the set, the folder and the fix).

Each function returns problem messages (empty: fine); callers raise them as a DataError or list them.
"""

from __future__ import annotations

import numpy as np

from .base import BaseDataset


def source_of(name: str | None, root) -> str:
    """How messages name a dataset: ``dataset 'imagefolder' at /data/mine``."""
    return f"dataset {name!r} at {root}"


def fold_problem(train: BaseDataset, fold: int, num_folds: int, source: str) -> str | None:
    """An open-set train set needs at least ``num_folds`` classes for class folds (docs/reference.md §8.3)."""
    count = train.num_classes if train.openset else len(train)
    unit = "classes" if train.openset else "images"
    if count >= num_folds:
        return None
    return (f"{source}: the train split has {count} {unit}, too few for validation_fold {fold} of "
            f"num_validation_folds {num_folds}; set dataset_params.validation_fold: null or add classes")


def class_problems(sets: dict[str, BaseDataset], source: str, fixes: dict[str, str] | None = None) -> list[str]:
    """Every non-empty classification set needs two classes (retrieval metrics, a classifier); a pair set needs
    same and different pairs. ``sets``: {set name: dataset}; ``fixes``: {set name: what to do}."""
    fixes = fixes or {}
    problems = []
    for name, dataset in sets.items():
        fix = fixes.get(name, "add classes to the dataset")
        if dataset.classification:
            classes = len(np.unique(dataset.labels))
            if len(dataset) and classes < 2:
                need = "training needs" if name == "train" else "retrieval metrics need"
                problems.append(f"{source}: the {name} set has {classes} class ({len(dataset)} images); {need} at "
                                f"least two; {fix}")
        elif len(dataset):
            same = int(dataset.labels.sum())
            if same == 0 or same == len(dataset):
                kind = "same-class" if same == 0 else "different-class"
                problems.append(f"{source}: the {name} set has no {kind} pair ({len(dataset)} pairs); verification "
                                f"needs both; {fix}")
    return problems


def batch_problems(train: BaseDataset, params, source: str) -> list[str]:
    """The train set (after the validation fold) must fill one batch per epoch and, with class-balanced batches,
    hold ``batch_size / samples_per_class`` classes (docs/reference.md §8.4). ``params``: `DatasetParams`."""
    batch_size, per_class = params.batch_size, params.samples_per_class
    if not isinstance(batch_size, int) or batch_size < 1 or (per_class is not None and per_class < 1):
        return []  # invalid numbers are the config check's to report
    held_out = getattr(train, "validation_note", "")
    where = f"{source}: the train split{held_out}"
    items = len(train) * params.train_repeat
    problems = []
    if items < batch_size:
        problems.append(f"{where} has {len(train)} images (x train_repeat {params.train_repeat}), fewer than "
                        f"dataset_params.batch_size {batch_size}, so an epoch has no batch; lower batch_size to at "
                        f"most {max(1, items)} or add images")
    if per_class is not None and batch_size % per_class == 0:
        needed, classes = batch_size // per_class, train.num_classes
        if needed > classes:
            best = classes * per_class
            problems.append(f"{where} has {classes} classes but a class-balanced batch needs {needed} "
                            f"(batch_size {batch_size} / samples_per_class {per_class}); lower "
                            f"dataset_params.batch_size to {best} or less (a multiple of {per_class}), or set "
                            f"samples_per_class: null for plain shuffled batches")
    return problems


def batches_per_epoch(train: BaseDataset, params) -> int:
    """Training batches of one epoch (drop_last; the class-balanced sampler gives the same count)."""
    return len(train) * params.train_repeat // max(1, params.batch_size)
