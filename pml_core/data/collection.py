"""The dataset registry and `build_datasets`: train set, validation sets, test sets (docs/reference.md §7, §8).

A registry entry is ``constructor(params: DatasetParams, root: Path) -> (trainset, {test name: dataset})``.
Test set names become ``infer-<name>``; each classification set also gets, as configured,
``infer-<name>-pairs``, ``infer-<name>-lossy`` and ``infer-<name>-lossy-pairs`` (in that order).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..errors import ConfigError, DataError
from ..registry import lookup
from .base import ArrayDataset, BaseDataset
from .glyphs import default_data_root, load_glyphs
from .lossy import LossyDataset
from .pairs import SamplePairsDataset
from .requirements import class_problems, fold_problem, source_of
from .splits import split_classes, validation_split


@dataclass
class DatasetCollection:
    """``train``: training set; ``valid``: {"valid", "valid-pairs", "valid-lossy", ...};
    ``tests``: {"infer-<name>", "infer-<name>-pairs", "infer-<name>-lossy", "infer-<name>-lossy-pairs"};
    ``full_train``: the train set before the validation fold was taken out (== ``train`` without a fold)."""

    train: BaseDataset
    valid: dict[str, BaseDataset] = field(default_factory=dict)
    tests: dict[str, BaseDataset] = field(default_factory=dict)
    full_train: BaseDataset | None = None  # the train set before the validation fold was taken out
    source: str = ""  # "dataset 'NAME' at ROOT", as messages name it


def glyphs_datasets(params, root: Path):
    """The embedded default: first half of the characters trains, second half tests."""
    arrays = load_glyphs(params.glyphs_params, root)
    full = ArrayDataset(arrays["images"], arrays["labels"])
    train, test = split_classes(full, 0.5)
    train.chars = arrays["chars"][: train.num_classes]
    test.chars = arrays["chars"][train.num_classes :]
    return train, {"glyphs": test}


def _lazy(module: str, function: str) -> Callable:
    def constructor(params, root):
        import importlib

        return getattr(importlib.import_module(f"pml_core.data.{module}"), function)(params, root)

    constructor.__name__ = function
    return constructor


DATASETS: dict[str, Callable] = {
    "glyphs": glyphs_datasets,
    "cub200-openset": _lazy("formats.cub", "cub200_openset"),
    "cub200-interleave-openset": _lazy("formats.cub", "cub200_interleave_openset"),
    "cars196-openset": _lazy("formats.cars", "cars196_openset"),
    "cars196-interleave-openset": _lazy("formats.cars", "cars196_interleave_openset"),
    "sop-openset": _lazy("formats.sop", "sop_openset"),
    "inshop-openset": _lazy("formats.inshop", "inshop_openset"),
    "lfw-openset": _lazy("formats.lfw", "lfw_openset"),
    "lfw-joined-openset": _lazy("formats.lfw", "lfw_joined_openset"),
    "casia-openset": _lazy("formats.faces", "casia_openset"),
    "ms1mv2-openset": _lazy("formats.faces", "ms1mv2_openset"),
    "ms1mv3-openset": _lazy("formats.faces", "ms1mv3_openset"),
    "serialized-openset": _lazy("formats.serialized", "serialized_openset"),
    "mnist": _lazy("formats.torchvision_sets", "mnist"),
    "mnist-openset": _lazy("formats.torchvision_sets", "mnist_openset"),
    "cifar10": _lazy("formats.torchvision_sets", "cifar10"),
    "cifar100": _lazy("formats.torchvision_sets", "cifar100"),
    "svhn": _lazy("formats.torchvision_sets", "svhn"),
    "imagefolder": _lazy("formats.imagefolder", "imagefolder"),
}


BIN_DATASETS = ("casia-openset", "ms1mv2-openset", "ms1mv3-openset")  # read dataset_params.verification_bins


def test_set_name(dataset_name: str) -> str:
    """``cub200-openset`` -> ``cub200`` (test sets are ``infer-<this>``)."""
    return dataset_name[: -len("-openset")] if dataset_name.endswith("-openset") else dataset_name


def with_variants(name: str, dataset: BaseDataset, *, lossy: bool, pairs: bool, lossy_params) -> dict[str, BaseDataset]:
    """``{name, name-pairs, name-lossy, name-lossy-pairs}`` as configured (classification sets only get variants)."""
    result = {name: dataset}
    if not dataset.classification:
        return result
    if pairs:
        result[f"{name}-pairs"] = SamplePairsDataset(dataset)
    if lossy:
        lossy_set = LossyDataset(dataset, lossy_params.seed, lossy_params.center_crop_range)
        result[f"{name}-lossy"] = lossy_set
        if pairs:
            result[f"{name}-lossy-pairs"] = SamplePairsDataset(lossy_set)
    return result


def _set_fixes(params, tests: dict) -> dict[str, str]:
    """What to do when a set of ``build_datasets`` has a single class (used in the messages)."""
    split = "add classes (the open-set split gives the first half of the classes to train, the second half to test)"
    fixes = {"train": split, **{f"infer-{name}": split for name in tests}}
    fixes["valid"] = (f"lower dataset_params.num_validation_folds (now {params.num_validation_folds}) or set "
                      "dataset_params.validation_fold: null")
    return fixes


def _validation_fold(train: BaseDataset, params, source: str, problems: list[str]):
    """(train without the fold, {"valid", ...}, how messages describe the fold) of ``validation_fold``; a fold the
    train set cannot make is appended to ``problems`` and skipped. Evaluation-only sets (no train set) are kept."""
    if params.validation_fold is None or not len(train):
        return train, {}, ""
    if getattr(train, "official_validation", False):
        raise ConfigError(f"dataset {params.name!r} has an official validation split; "
                          f"set dataset_params.validation_fold to null")
    issue = fold_problem(train, params.validation_fold, params.num_validation_folds, source)
    if issue:
        problems.append(issue)
        return train, {}, ""
    train, valid_set = validation_split(train, params.validation_fold, params.num_validation_folds,
                                        params.validation_split_interleave)
    held = f"{valid_set.num_classes} classes" if valid_set.openset else f"{len(valid_set)} images"
    note = f" (without validation_fold {params.validation_fold} of {params.num_validation_folds}: {held} held out)"
    valid = with_variants("valid", valid_set, lossy=params.add_lossy_valsets, pairs=params.add_verification_valsets,
                          lossy_params=params.lossy_params)
    return train, valid, note


def build_datasets(params, data_root: str | Path | None = None, *, problems: list[str] | None = None
                   ) -> DatasetCollection:
    """Build the train / validation / test sets of `DatasetParams` ``params`` from ``data_root``.

    ``data_root`` None: `default_data_root()` ($PML_DATA_ROOT or ~/.cache/pml-kit/data).
    A set no run can use (one class, a validation fold that cannot be made; `requirements`) is a DataError naming
    the set, the folder and the fix; with a ``problems`` list the messages are appended there instead and the
    collection is returned as far as it can be built (``data check``).
    """
    if params.name is None:
        raise ConfigError(f"dataset_params.name is required; valid: {', '.join(sorted(DATASETS))}")
    constructor = lookup("dataset", DATASETS, params.name)
    if params.verification_bins is not None and params.name not in BIN_DATASETS:
        raise ConfigError(f"dataset_params.verification_bins applies to the face sets ({', '.join(BIN_DATASETS)}), "
                          f"not to {params.name!r}; remove it")
    root = Path(data_root).expanduser() if data_root is not None else default_data_root()
    source = source_of(params.name, root)
    train, tests = constructor(params, root)
    full_train = train
    found: list[str] = []
    train, valid, note = _validation_fold(train, params, source, found)
    found += class_problems({"train": train, **({"valid": valid["valid"]} if valid else {}),
                             **{f"infer-{name}": dataset for name, dataset in tests.items()}},
                            source, _set_fixes(params, tests))
    if found and problems is None:
        raise DataError("\n".join(found))
    if problems is not None:
        problems.extend(found)
    if params.image_cache:
        from .cache import cached

        size = max(params.transform_test_params.prescale_size or 0, params.transform_params.image_size)
        train = cached(train, size, root)
        valid = {name: cached(dataset, size, root) if name == "valid" else dataset for name, dataset in valid.items()}
        if "valid" in valid:
            valid = with_variants("valid", valid["valid"], lossy=params.add_lossy_valsets,
                                  pairs=params.add_verification_valsets, lossy_params=params.lossy_params)
        tests = {name: cached(dataset, size, root) for name, dataset in tests.items()}
    train.source, train.validation_note = source, note  # named by the batch check of the train loader
    test_sets: dict[str, BaseDataset] = {}
    for name, dataset in tests.items():
        test_sets.update(with_variants(f"infer-{name}", dataset, lossy=params.add_lossy_testsets,
                                       pairs=params.add_verification_testsets, lossy_params=params.lossy_params))
    if params.validate_on_test:
        valid.update(test_sets)
    return DatasetCollection(train=train, valid=valid, tests=test_sets, full_train=full_train, source=source)
