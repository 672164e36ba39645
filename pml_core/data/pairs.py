"""Verification pairs sampled from a classification set (docs/reference.md §7, §13.9)."""

from __future__ import annotations

import random

import numpy as np

from .base import BaseDataset


def derangement(size: int, rng: np.random.RandomState) -> np.ndarray:
    """A random permutation of 0..size-1 without fixed points (size >= 2).

    A permutation is drawn; two or more fixed points are cycled among themselves, a single one is swapped
    with a random other position.
    """
    perm = rng.permutation(size)
    fixed = np.flatnonzero(perm == np.arange(size))
    if len(fixed) >= 2:
        perm[fixed] = np.roll(perm[fixed], 1)
    elif len(fixed) == 1:
        position = int(fixed[0])
        other = int(rng.randint(size - 1))
        other += other >= position
        perm[position], perm[other] = perm[other], perm[position]
    return perm


def sample_pairs(labels: np.ndarray, size_factor: int = 1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Pair indices (P, 2) int64 and pair labels (P,) int64 (1 = same class), positives first.

    Positives: for each label in ascending order with at least two samples, ``size_factor`` derangements
    of its index list. Negatives: for each sample in order, ``size_factor`` times, labels drawn from the
    per-sample label list (so proportional to class frequency) until different, then a uniform sample of
    that label. Private RNGs seeded with ``seed`` (numpy legacy, python ``random``); global state untouched.
    """
    labels = np.asarray(labels, np.int64)
    numpy_rng = np.random.RandomState(seed)
    python_rng = random.Random(seed)
    by_label = {int(label): np.flatnonzero(labels == label) for label in np.unique(labels)}
    positives = []
    for label in sorted(by_label):
        indices = by_label[label]
        if len(indices) < 2:
            continue
        for _ in range(size_factor):
            perm = derangement(len(indices), numpy_rng)
            positives.append(np.stack([indices, indices[perm]], axis=1))
    negatives = []
    label_list = labels.tolist()
    if len(by_label) >= 2:
        for index, label in enumerate(label_list):
            for _ in range(size_factor):
                other = label
                while other == label:
                    other = python_rng.choice(label_list)
                negatives.append((index, python_rng.choice(by_label[other].tolist())))
    positive_pairs = np.concatenate(positives) if positives else np.zeros((0, 2), np.int64)
    negative_pairs = np.asarray(negatives, np.int64).reshape(-1, 2)
    pairs = np.concatenate([positive_pairs, negative_pairs]).astype(np.int64)
    pair_labels = np.concatenate([np.ones(len(positive_pairs), np.int64), np.zeros(len(negative_pairs), np.int64)])
    return pairs, pair_labels


class PairsDataset(BaseDataset):
    """Explicit pairs of items of ``base``: ``((image1, image2), label[, (quality1, quality2)])``."""

    classification = False

    def __init__(self, base: BaseDataset, pairs: np.ndarray, pair_labels: np.ndarray):
        self.base = base
        self.pairs = np.asarray(pairs, np.int64).reshape(-1, 2)
        self.labels = np.asarray(pair_labels, np.int64)
        self.openset = base.openset
        self.has_quality = base.has_quality

    @property
    def num_classes(self) -> int:
        return 2

    def image_pair(self, index: int):
        first, second = self.pairs[index]
        return self.base.image(int(first)), self.base.image(int(second))

    def __getitem__(self, index: int):
        first, second = (int(i) for i in self.pairs[index])
        label = int(self.labels[index])
        if self.has_quality:
            return ((self.base.image(first), self.base.image(second)), label,
                    (self.base.quality(first), self.base.quality(second)))
        return (self.base.image(first), self.base.image(second)), label


class SamplePairsDataset(PairsDataset):
    """Deterministic positive/negative pairs of a classification set (seed 0 as the reference)."""

    def __init__(self, base: BaseDataset, size_factor: int = 1, seed: int = 0):
        pairs, pair_labels = sample_pairs(base.labels, size_factor, seed)
        super().__init__(base, pairs, pair_labels)
