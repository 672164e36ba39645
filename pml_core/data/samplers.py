"""Batch samplers for training (docs/reference.md §8.4), deterministic in (seed, epoch).

Each sampler yields batches as lists of ``(index, item_seed)``: the item seed lets the dataset wrapper
seed the augmentation of that item, so that a run resumed at an epoch sees the same batches and the
same augmentations whatever the number of workers (no hidden global RNG state). Batches are produced
identically on every rank and sharded by ``rank::world_size`` (DDP).
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

from ..errors import ConfigError


def _rng(seed: int, epoch: int, stream: int = 0) -> np.random.Generator:
    return np.random.default_rng([int(seed) % 2**63, int(epoch), stream])


class _EpochBatchSampler:
    """Common part: per-epoch batch list, item seeds, DDP sharding."""

    def __init__(self, *, seed: int, epoch: int, rank: int = 0, world_size: int = 1):
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} out of range for world size {world_size}")
        self.seed, self.epoch, self.rank, self.world_size = seed, epoch, rank, world_size

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def batches(self) -> list[np.ndarray]:
        raise NotImplementedError

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        batches = self.batches()
        width = max((len(batch) for batch in batches), default=0)
        seeds = _rng(self.seed, self.epoch, 1).integers(0, 2**62, size=(len(batches), width))
        per_rank = len(batches) // self.world_size
        for position in range(self.rank, self.rank + per_rank * self.world_size, self.world_size):
            yield [(int(index), int(seeds[position, column])) for column, index in enumerate(batches[position])]

    def __len__(self) -> int:
        return self.num_batches() // self.world_size

    def num_batches(self) -> int:
        raise NotImplementedError


class ShuffledBatchSampler(_EpochBatchSampler):
    """Plain loader: a permutation of 0..size-1 per epoch (or in order), ``drop_last`` batches."""

    def __init__(self, size: int, batch_size: int, *, shuffle: bool = True, drop_last: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.size, self.batch_size, self.shuffle, self.drop_last = size, batch_size, shuffle, drop_last

    def num_batches(self) -> int:
        full, rest = divmod(self.size, self.batch_size)
        return full + (1 if rest and not self.drop_last else 0)

    def batches(self) -> list[np.ndarray]:
        order = _rng(self.seed, self.epoch).permutation(self.size) if self.shuffle else np.arange(self.size)
        return [order[i * self.batch_size : (i + 1) * self.batch_size] for i in range(self.num_batches())]


class ClassBalancedBatchSampler(_EpochBatchSampler):
    """Batches of ``batch_size / samples_per_class`` labels x ``samples_per_class`` samples each.

    Samples of a label are drawn with replacement (as the reference). Labels per batch:
    * ``uniform=False``: drawn without replacement with probability proportional to class frequency;
    * ``uniform=True``: the intended behaviour: walk through a shuffled list of all labels in chunks,
      reshuffling when exhausted (every class is visited once per ``C / labels_per_batch`` batches);
    * ``uniform=True, reference_cursor=True``: the reference as implemented: every batch uses the
      same first ``labels_per_batch`` labels (order of first appearance) (docs/reference.md §8.4, §12.1).
    Number of batches per epoch: ``floor(len(labels) / batch_size)``.
    """

    def __init__(self, labels: np.ndarray, batch_size: int, samples_per_class: int, *, uniform: bool = False,
                 reference_cursor: bool = False, **kwargs):
        super().__init__(**kwargs)
        labels = np.asarray(labels, np.int64)
        if samples_per_class < 1 or batch_size % samples_per_class:
            raise ConfigError(f"dataset_params.batch_size={batch_size} must be a multiple of "
                              f"dataset_params.samples_per_class={samples_per_class}")
        self.labels_per_batch = batch_size // samples_per_class
        self.label_set, first_positions = np.unique(labels, return_index=True)
        self.label_set = self.label_set[np.argsort(first_positions, kind="stable")]  # first appearance order
        if self.labels_per_batch > len(self.label_set):
            raise ConfigError(f"a batch needs {self.labels_per_batch} classes (batch_size / samples_per_class) but "
                              f"the training set has {len(self.label_set)}; lower dataset_params.batch_size or "
                              f"raise samples_per_class")
        self.by_label = {int(label): np.flatnonzero(labels == label) for label in self.label_set}
        counts = np.array([len(self.by_label[int(label)]) for label in self.label_set], np.float64)
        self.probabilities = counts / counts.sum()
        self.size, self.batch_size, self.samples_per_class = len(labels), batch_size, samples_per_class
        self.uniform, self.reference_cursor = uniform, reference_cursor

    def num_batches(self) -> int:
        return self.size // self.batch_size

    def _label_batches(self, rng: np.random.Generator) -> list[np.ndarray]:
        count, k = self.num_batches(), self.labels_per_batch
        if not self.uniform:
            return [self.label_set[rng.choice(len(self.label_set), k, replace=False, p=self.probabilities)]
                    for _ in range(count)]
        if self.reference_cursor:
            return [self.label_set[:k].copy() for _ in range(count)]
        queue: list[int] = []
        result = []
        for _ in range(count):
            if len(queue) < k:  # finish the current pass, then continue with a fresh shuffle
                fresh = [int(x) for x in rng.permutation(self.label_set)]
                head = set(queue)
                fresh_head = [x for x in fresh if x not in head][: k - len(queue)]
                rest = [x for x in fresh if x not in set(fresh_head)]
                queue = queue + fresh_head + rest
            result.append(np.asarray(queue[:k], np.int64))
            queue = queue[k:]
        return result

    def batches(self) -> list[np.ndarray]:
        rng = _rng(self.seed, self.epoch)
        batches = []
        for labels in self._label_batches(rng):
            batches.append(np.concatenate([rng.choice(self.by_label[int(label)], self.samples_per_class, replace=True)
                                           for label in labels]))
        return batches
