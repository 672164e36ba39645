"""Open-set class split (docs/reference.md §8.1) and validation folds (8.3)."""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from .base import BaseDataset, SubsetDataset


def split_class_ids(num_classes: int, fraction: float = 0.5, interleave: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Class ids of the two parts: (first, second).

    Plain: the first ``floor(num_classes * fraction)`` classes, then the rest, without shuffling
    (sklearn ``train_test_split(train_size=fraction, shuffle=False)``). Interleave: class j joins the first
    part when ``ceil((j + 1) * fraction) > ceil(j * fraction)`` (0.5 alternates, starting with class 0).
    """
    ids = np.arange(num_classes)
    if interleave:
        upper = np.ceil(np.round((ids + 1) * fraction, 9))
        lower = np.ceil(np.round(ids * fraction, 9))
        mask = upper > lower
        return ids[mask], ids[~mask]
    first_size = int(np.floor(np.round(num_classes * fraction, 9)))
    return ids[:first_size], ids[first_size:]


def split_classes(dataset: BaseDataset, fraction: float = 0.5, interleave: bool = False) -> tuple[SubsetDataset, SubsetDataset]:
    """Split by classes into (first part, second part), both re-indexed densely."""
    first, second = split_class_ids(dataset.num_classes, fraction, interleave)
    in_first = np.isin(dataset.labels, first)
    return (SubsetDataset(dataset, np.flatnonzero(in_first)), SubsetDataset(dataset, np.flatnonzero(~in_first)))


def kfold_blocks(n: int, num_folds: int, fold: int, *, shuffle_seed: int | None = None,
                 interleave: bool = False) -> np.ndarray:
    """Positions 0..n-1 in fold ``fold`` (sklearn KFold layout: the first n mod k folds one larger).

    ``shuffle_seed``: positions are permuted first as ``KFold(shuffle=True, random_state=seed)`` does
    (a legacy ``RandomState(seed).shuffle``). ``interleave``: position j is in fold j mod k.
    """
    if not 0 <= fold < num_folds:
        raise ConfigError(f"dataset_params.validation_fold={fold} must be in [0, {num_folds - 1}] "
                          f"(num_validation_folds={num_folds})")
    if n < num_folds:
        raise ConfigError(f"cannot make {num_folds} validation folds out of {n} items/classes; "
                          f"lower dataset_params.num_validation_folds")
    positions = np.arange(n)
    if interleave:
        return positions[positions % num_folds == fold]
    if shuffle_seed is not None:
        np.random.RandomState(shuffle_seed).shuffle(positions)
    sizes = np.full(num_folds, n // num_folds)
    sizes[: n % num_folds] += 1
    start = int(sizes[:fold].sum())
    return np.sort(positions[start : start + sizes[fold]])


def validation_split(dataset: BaseDataset, fold: int, num_folds: int = 4,
                     interleave: bool = False) -> tuple[SubsetDataset, SubsetDataset]:
    """(train, valid): open-set by classes (contiguous class blocks), closed-set by elements (shuffled)."""
    if dataset.openset:
        valid_classes = kfold_blocks(dataset.num_classes, num_folds, fold, interleave=interleave)
        in_valid = np.isin(dataset.labels, valid_classes)
    else:
        valid_items = kfold_blocks(len(dataset), num_folds, fold, shuffle_seed=0, interleave=interleave)
        in_valid = np.zeros(len(dataset), bool)
        in_valid[valid_items] = True
    relabel = dataset.openset
    return (SubsetDataset(dataset, np.flatnonzero(~in_valid), relabel=relabel),
            SubsetDataset(dataset, np.flatnonzero(in_valid), relabel=relabel))
