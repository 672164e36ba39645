"""Train and evaluation DataLoaders (docs/reference.md §8.4).

`build_train_loader` yields ``(images (B, 3, S, S) float32, labels (B,) int64)``; batches and
augmentations are a function of (seed, epoch) only, so a run resumed at an epoch reproduces them.
`build_eval_loader` yields ``(images, labels[, qualities])`` for classification sets and
``((images1, images2), labels[, (qualities1, qualities2)])`` for pair sets, test transform applied, in order.
"""

from __future__ import annotations

import functools
import sys

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ..errors import DataError
from .base import RepeatDataset
from .requirements import batch_problems
from .samplers import ClassBalancedBatchSampler, ShuffledBatchSampler
from .transforms import TestPipeline, TrainPipeline
from ..utils import cpu_rng_seeded


def loader_context() -> str | None:
    """How loader processes start: the platform's default (fork on Linux) even in a process that was itself
    spawned, such as a grid worker (`pml_core.experiments.workers`), whose children would otherwise be spawned
    too: a fresh interpreter importing torch for every epoch's loader (a smoke run took 139 s instead of 29 s)."""
    return "fork" if sys.platform.startswith("linux") else None


class SeededTrainDataset(Dataset):
    """Train wrapper: item ``(index, item_seed)`` -> ``(transformed image, label, item_seed)``.

    The augmentation runs under torch's RNG forked and seeded with ``item_seed`` (global state untouched).
    """

    def __init__(self, base, transform):
        self.base, self.transform = base, transform
        self.labels = base.labels

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, key):
        index, item_seed = key if isinstance(key, tuple) else (key, key)
        item = self.base[index]
        with cpu_rng_seeded(item_seed):
            image = self.transform(item[0])
        return image, int(item[1]), int(item_seed)


def _train_collate(items, mixup_type: str | None = None):
    images = torch.stack([item[0] for item in items])
    labels = torch.tensor([item[1] for item in items], dtype=torch.int64)
    if mixup_type == "same_class":
        generator = torch.Generator().manual_seed(items[0][2] ^ 0x5A5A5A5A)
        partners = torch.empty(len(items), dtype=torch.int64)
        for position in range(len(items)):
            same = torch.nonzero(labels == labels[position]).flatten()
            partners[position] = same[torch.randint(len(same), (), generator=generator)]
        weights = torch.rand(len(items), 1, 1, 1, generator=generator)
        images = weights * images + (1 - weights) * images[partners]
    return images, labels


def _worker_count(num_workers, default) -> int:
    return int(default if num_workers is None else num_workers)


def make_train_sampler(dataset, params, *, seed: int, epoch: int, rank: int = 0, world_size: int = 1):
    """The batch sampler of `build_train_loader` (over the repeated train set).

    A train set too small for the batch is a DataError naming the set, its folder and the fix (the rule
    ``data check`` applies, `requirements.batch_problems`)."""
    problems = batch_problems(dataset, params, getattr(dataset, "source", "the dataset"))
    if problems:
        raise DataError("\n".join(problems))
    labels = np.tile(dataset.labels, params.train_repeat)
    if params.samples_per_class is not None:
        return ClassBalancedBatchSampler(labels, params.batch_size, params.samples_per_class,
                                         uniform=params.uniform_sampling,
                                         reference_cursor=params.uniform_sampling_reference,
                                         seed=seed, epoch=epoch, rank=rank, world_size=world_size)
    return ShuffledBatchSampler(len(labels), params.batch_size, shuffle=params.shuffle_train, drop_last=True,
                                seed=seed, epoch=epoch, rank=rank, world_size=world_size)


def build_train_loader(dataset, params, *, seed: int, epoch: int, num_workers: int | None = None,
                       rank: int = 0, world_size: int = 1) -> DataLoader:
    """Training DataLoader: Repeat(train, train_repeat) + train transform + (class-balanced) batch sampler.

    ``params``: `DatasetParams`. Yields ``(images (B, 3, S, S) float32, labels (B,) int64)``.
    """
    repeated = RepeatDataset(dataset, params.train_repeat) if params.train_repeat != 1 else dataset
    wrapped = SeededTrainDataset(repeated, TrainPipeline(params))
    sampler = make_train_sampler(dataset, params, seed=seed, epoch=epoch, rank=rank, world_size=world_size)
    workers = _worker_count(num_workers, params.num_workers)
    # The loader's own generator: its worker base seed must not come from (nor move) torch's global RNG.
    generator = torch.Generator().manual_seed(int(np.random.default_rng([int(seed) % 2**63, int(epoch), 2])
                                                  .integers(0, 2**62)))
    return DataLoader(wrapped, batch_sampler=sampler, num_workers=workers, generator=generator,
                      collate_fn=functools.partial(_train_collate, mixup_type=params.mixup_type),
                      persistent_workers=params.persistent_workers and workers > 0,
                      pin_memory=torch.cuda.is_available(), multiprocessing_context=loader_context() if workers else None)


class EvalDataset(Dataset):
    """Test transform applied to every image of an item (classification or pairs); qualities as float32."""

    def __init__(self, base, transform):
        self.base, self.transform = base, transform
        self.labels = base.labels
        self.classification = base.classification
        self.has_quality = base.has_quality

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index: int):
        item = self.base[index]
        if self.classification:
            result = [self.transform(item[0]), int(item[1])]
            if self.has_quality:
                result.append(np.float32(item[2]))
            return tuple(result)
        first, second = item[0]
        result = [(self.transform(first), self.transform(second)), int(item[1])]
        if self.has_quality:
            result.append((np.float32(item[2][0]), np.float32(item[2][1])))
        return tuple(result)


def build_eval_loader(dataset, params, *, num_workers: int | None = None, batch_size: int | None = None) -> DataLoader:
    """Evaluation DataLoader: test transform, no shuffle, every item (no drop_last)."""
    default_workers = params.num_valid_workers if params.num_valid_workers is not None else params.num_workers
    workers = _worker_count(num_workers, default_workers)
    return DataLoader(EvalDataset(dataset, TestPipeline(params)), batch_size=batch_size or params.batch_size,
                      shuffle=False, drop_last=False, num_workers=workers, pin_memory=torch.cuda.is_available(),
                      generator=torch.Generator().manual_seed(0), multiprocessing_context=loader_context() if workers else None)
