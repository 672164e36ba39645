"""Open-set class split, validation folds, lossy crops, verification pairs, test-set assembly."""

import random

import numpy as np
import pytest
import torch
from PIL import Image

from pml_core.config import DatasetParams, GlyphsParams
from pml_core.data import (ArrayDataset, LossyDataset, SamplePairsDataset, build_datasets, center_crop_fraction,
                           crop_fractions, sample_pairs, split_classes, validation_split)
from pml_core.data.pairs import derangement
from pml_core.data.splits import kfold_blocks, split_class_ids
from pml_core.errors import ConfigError


def toy(labels, openset=True, size=4):
    labels = np.asarray(labels)
    images = np.stack([np.full((size, size, 3), i, np.uint8) for i in range(len(labels))])
    return ArrayDataset(images, labels, openset=openset)


def test_class_split_plain_and_interleave():
    first, second = split_class_ids(10, 0.3)
    assert list(first) == [0, 1, 2] and list(second) == list(range(3, 10))
    first, second = split_class_ids(10, 0.3, interleave=True)
    assert len(first) == 3 and len(second) == 7 and set(first) | set(second) == set(range(10))
    first, second = split_class_ids(6, 0.5, interleave=True)
    assert list(first) == [0, 2, 4]
    assert [len(p) for p in split_class_ids(196, 0.5)] == [98, 98]


def test_split_classes_relabels_densely():
    dataset = toy([3, 0, 1, 2, 3, 1])
    train, test = split_classes(dataset)
    assert list(train.labels) == [0, 1, 1] and list(test.labels) == [1, 0, 1]
    assert train[1][0][0, 0, 0] == 2  # item 2 of the base (label 1)


def test_open_set_folds_are_contiguous_class_blocks():
    labels = np.repeat(np.arange(10), 2)
    blocks = [set(kfold_blocks(10, 4, fold)) for fold in range(4)]
    assert [sorted(b) for b in blocks] == [[0, 1, 2], [3, 4, 5], [6, 7], [8, 9]]
    train, valid = validation_split(toy(labels), 0, 5)
    assert train.num_classes == 8 and valid.num_classes == 2 and len(valid) == 4
    folds = [set(np.unique(toy(labels).labels[validation_split(toy(labels), f, 5)[1].indices])) for f in range(5)]
    assert all(a.isdisjoint(b) for i, a in enumerate(folds) for b in folds[i + 1:])
    assert set(kfold_blocks(10, 4, 1, interleave=True)) == {1, 5, 9}
    with pytest.raises(ConfigError):
        validation_split(toy(labels), 4, 4)


def test_closed_set_folds_by_elements_shuffled_like_kfold():
    dataset = toy(np.arange(12) % 3, openset=False)
    parts = [validation_split(dataset, f, 4)[1].indices for f in range(4)]
    assert sorted(np.concatenate(parts).tolist()) == list(range(12))
    permutation = np.arange(12)
    np.random.RandomState(0).shuffle(permutation)
    assert sorted(parts[0].tolist()) == sorted(permutation[:3].tolist())
    train, valid = validation_split(dataset, 0, 4)
    assert set(train.labels) <= {0, 1, 2}  # closed-set labels are kept


def test_lossy_worked_example_numpy_pil_tensor():
    image = (8 * np.arange(32)[:, None] + np.arange(8)[None, :]).astype(np.uint8)
    expected = [[123, 124], [131, 132]]
    assert center_crop_fraction(image, 0.25).tolist() == expected
    tensor = torch.from_numpy(image)[None]
    assert center_crop_fraction(tensor, 0.25)[0].tolist() == expected
    assert np.asarray(center_crop_fraction(Image.fromarray(image), 0.25)).tolist() == expected
    assert center_crop_fraction(image, 1.0 - 1e-7) is image


def test_lossy_fractions_match_seeded_global_rng_and_leave_it_alone():
    state = np.random.get_state()
    np.random.seed(0)
    expected = np.random.random(7) * 0.75 + 0.25
    np.random.set_state(state)
    before = np.random.get_state()[1].copy()
    assert np.array_equal(crop_fractions(7, 0, (0.25, 1.0)), expected)
    assert np.array_equal(np.random.get_state()[1], before)
    lossy = LossyDataset(toy([0, 0, 1, 1], size=16))
    image, label, quality = lossy[1]
    assert lossy.has_quality and quality == pytest.approx(expected[1])
    assert image.shape[0] == round(16 * expected[1])


def test_derangement_has_no_fixed_points():
    rng = np.random.RandomState(0)
    for size in [2, 3, 5, 10]:
        for _ in range(50):
            perm = derangement(size, rng)
            assert sorted(perm) == list(range(size)) and (perm != np.arange(size)).all()


def test_pairs_counts_labels_and_determinism():
    labels = np.array([0, 0, 0, 1, 1, 2, 3, 3, 3, 3])
    state = (random.getstate(), np.random.get_state()[1].copy())
    pairs, pair_labels = sample_pairs(labels)
    assert random.getstate() == state[0] and np.array_equal(np.random.get_state()[1], state[1])
    positives = pairs[pair_labels == 1]
    negatives = pairs[pair_labels == 0]
    assert len(positives) == 3 + 2 + 4 and len(negatives) == len(labels)
    assert (labels[positives[:, 0]] == labels[positives[:, 1]]).all() and (positives[:, 0] != positives[:, 1]).all()
    assert (labels[negatives[:, 0]] != labels[negatives[:, 1]]).all()
    assert list(negatives[:, 0]) == list(range(10))
    again, _ = sample_pairs(labels)
    assert np.array_equal(pairs, again)
    doubled, doubled_labels = sample_pairs(labels, size_factor=2)
    assert len(doubled) == 2 * len(pairs)


def test_pairs_dataset_items_and_lossy_pairs_reuse_indices():
    dataset = toy([0, 0, 1, 1, 2, 2])
    pairs = SamplePairsDataset(dataset)
    (first, second), label = pairs[0]
    assert not pairs.classification and label == 1 and first.shape == (4, 4, 3)
    lossy_pairs = SamplePairsDataset(LossyDataset(dataset))
    assert np.array_equal(lossy_pairs.pairs, pairs.pairs)
    (_, _), _, (q1, q2) = lossy_pairs[0]
    assert 0.25 <= q1 < 1 and 0.25 <= q2 < 1


def test_test_set_assembly_order(tmp_path):
    params = DatasetParams(name="glyphs", glyphs_params=GlyphsParams(num_classes=16, samples_per_class=2),
                           add_lossy_testsets=True, validation_fold=0, add_lossy_valsets=True,
                           add_verification_valsets=True)
    collection = build_datasets(params, tmp_path)
    assert list(collection.tests) == ["infer-glyphs", "infer-glyphs-pairs", "infer-glyphs-lossy",
                                      "infer-glyphs-lossy-pairs"]
    assert list(collection.valid) == ["valid", "valid-pairs", "valid-lossy", "valid-lossy-pairs"]
    assert collection.tests["infer-glyphs-lossy"].has_quality
    params.add_verification_testsets = False
    params.validation_fold = None
    collection = build_datasets(params, tmp_path)
    assert list(collection.tests) == ["infer-glyphs", "infer-glyphs-lossy"] and collection.valid == {}


def test_unknown_dataset_name():
    with pytest.raises(ConfigError, match="cub200-openset"):
        build_datasets(DatasetParams(name="cub200-opneset"), "/nonexistent")
    with pytest.raises(ConfigError):
        build_datasets(DatasetParams(name=None), "/nonexistent")
