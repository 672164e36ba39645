"""Samplers, train/eval loaders and transforms."""

import sys

import numpy as np
import pytest
import torch

from pml_core.config import DatasetParams
from pml_core.data import (ArrayDataset, ClassBalancedBatchSampler, ImageTestTransform, ImageTransform,
                           LossyDataset, SamplePairsDataset, ShuffledBatchSampler, build_eval_loader,
                           build_train_loader)
from pml_core.errors import ConfigError


def toy(num_classes=10, per_class=6, size=12):
    labels = np.repeat(np.arange(num_classes), per_class)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(len(labels), size, size, 3), dtype=np.uint8)
    return ArrayDataset(images, labels)


def params(**kwargs):
    p = DatasetParams(name="glyphs", num_workers=0, **kwargs)
    p.transform_params.image_size = 8
    return p


def batches(sampler):
    return [[index for index, _ in batch] for batch in sampler]


def test_class_balanced_batches_structure():
    labels = np.repeat(np.arange(10), 6)
    for uniform in (False, True):
        sampler = ClassBalancedBatchSampler(labels, 8, 2, uniform=uniform, seed=0, epoch=0)
        result = batches(sampler)
        assert len(result) == len(sampler) == 60 // 8
        for batch in result:
            values, counts = np.unique(labels[batch], return_counts=True)
            assert len(values) == 4 and (counts == 2).all()


def test_frequency_sampler_two_labels_each_batch():
    sampler = ClassBalancedBatchSampler(np.array([0, 0, 3, 3]), 4, 2, seed=0, epoch=0)
    for batch in batches(sampler):
        assert sorted(set(np.array([0, 0, 3, 3])[batch])) == [0, 3]


def test_uniform_sampler_visits_every_class_each_epoch_unlike_reference():
    labels = np.repeat(np.arange(40), 4)  # 160 samples, batch 16 -> 10 batches x 4 labels = 40 label slots
    intended = ClassBalancedBatchSampler(labels, 16, 4, uniform=True, seed=3, epoch=0)
    seen = {int(labels[i]) for batch in batches(intended) for i in batch}
    assert seen == set(range(40))
    frozen = ClassBalancedBatchSampler(labels, 16, 4, uniform=True, reference_cursor=True, seed=3, epoch=0)
    seen_frozen = {int(labels[i]) for batch in batches(frozen) for i in batch}
    assert seen_frozen == {0, 1, 2, 3}


def test_uniform_sampler_never_repeats_a_label_in_a_batch_across_passes():
    labels = np.repeat(np.arange(7), 3)
    sampler = ClassBalancedBatchSampler(np.tile(labels, 10), 6, 2, uniform=True, seed=0, epoch=0)
    for batch in batches(sampler):
        assert len(set(np.tile(labels, 10)[batch])) == 3


def test_sampler_deterministic_in_seed_and_epoch_and_sharded():
    labels = np.repeat(np.arange(10), 6)
    make = lambda **kw: list(ClassBalancedBatchSampler(labels, 8, 2, **kw))
    assert make(seed=1, epoch=2) == make(seed=1, epoch=2)
    assert make(seed=1, epoch=2) != make(seed=1, epoch=3)
    full = make(seed=1, epoch=2)
    ranks = [make(seed=1, epoch=2, rank=r, world_size=2) for r in range(2)]
    assert ranks[0] == full[0::2][:3] and ranks[1] == full[1::2][:3]


def test_batch_size_must_be_multiple_and_enough_classes():
    with pytest.raises(ConfigError):
        ClassBalancedBatchSampler(np.arange(10), 6, 4, seed=0, epoch=0)
    with pytest.raises(ConfigError):
        ClassBalancedBatchSampler(np.repeat(np.arange(3), 4), 16, 4, seed=0, epoch=0)


def test_shuffled_sampler_drop_last():
    sampler = ShuffledBatchSampler(10, 4, seed=0, epoch=0)
    result = batches(sampler)
    assert len(result) == 2 and len(set(sum(result, []))) == 8


def test_train_loader_reproducible_for_resume_and_worker_count():
    dataset = toy()
    p = params(batch_size=8, samples_per_class=2, uniform_sampling=True)
    p.augmenter_params.random_crop_scale = [0.5, 1.0]
    p.augmenter_params.brightness_range = 0.3
    run = lambda epoch, workers=0: list(build_train_loader(dataset, p, seed=5, epoch=epoch, num_workers=workers))
    first, again = run(1), run(1)
    assert len(first) == 60 // 8
    images, labels = first[0]
    assert images.shape == (8, 3, 8, 8) and images.dtype == torch.float32 and labels.dtype == torch.int64
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(first, again))
    assert not torch.equal(first[0][0], run(2)[0][0])
    with_workers = run(1, workers=2)
    assert all(torch.equal(a[0], b[0]) for a, b in zip(first, with_workers))
    torch.manual_seed(0)
    state = torch.get_rng_state()
    run(1)
    assert torch.equal(torch.get_rng_state(), state)  # no hidden global RNG use


def _loader_start_method_in_a_spawned_process(queue):
    from pml_core.data.loaders import build_eval_loader

    train = build_train_loader(toy(), params(batch_size=8, samples_per_class=2), seed=0, epoch=1, num_workers=1)
    evaluation = build_eval_loader(toy(), params(batch_size=8), num_workers=1)
    queue.put([loader.multiprocessing_context.get_start_method() for loader in (train, evaluation)])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork is the Linux default")
def test_loader_processes_fork_even_inside_a_spawned_grid_worker():
    """A grid worker is a spawned process; its loaders must not spawn a fresh interpreter every epoch."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_loader_start_method_in_a_spawned_process, args=(queue,))
    process.start()
    methods = queue.get(timeout=120)
    process.join(timeout=60)
    assert methods == ["fork", "fork"]


def test_train_loader_repeat_plain_and_mixup():
    dataset = toy()
    p = params(batch_size=8, samples_per_class=None, train_repeat=2)
    assert len(build_train_loader(dataset, p, seed=0, epoch=0)) == 120 // 8
    p = params(batch_size=8, samples_per_class=2, mixup_type="same_class")
    images, labels = next(iter(build_train_loader(dataset, p, seed=0, epoch=0)))
    assert images.shape == (8, 3, 8, 8) and len(set(labels.tolist())) == 4


def test_eval_loader_classification_lossy_and_pairs():
    dataset = toy(4, 3)
    p = params(batch_size=5)
    loader = build_eval_loader(dataset, p)
    images, labels = next(iter(loader))
    assert images.shape == (5, 3, 8, 8) and labels.tolist() == [0, 0, 0, 1, 1]
    assert sum(len(b[1]) for b in loader) == 12
    images, labels, quality = next(iter(build_eval_loader(LossyDataset(dataset), p)))
    assert quality.dtype == torch.float32 and images.shape == (5, 3, 8, 8)
    (first, second), labels, (q1, q2) = next(iter(build_eval_loader(SamplePairsDataset(LossyDataset(dataset)), p)))
    assert first.shape == second.shape == (5, 3, 8, 8) and q1.shape == (5,)


def test_transforms_resize_crop_normalize():
    image = torch.rand(3, 20, 30)
    out = ImageTransform(10)(image)
    assert out.shape == (3, 10, 10)
    assert torch.allclose(ImageTransform(20, mean=(0, 0, 0), std=(1, 1, 1))(torch.ones(3, 20, 20)), torch.ones(3, 20, 20))
    square = ImageTransform(10, center_crop=False)(image)
    assert square.shape == (3, 10, 10)
    prescaled = ImageTestTransform(16, prescale_size=18)(image)
    assert prescaled.shape == (3, 16, 16)
    assert ImageTestTransform(16)(image) is image
