"""`check_dataset`: layout check, split summary and verdict of a dataset (``python -m pml_core data check``).

One verdict for ``data check`` and the ``data_prep`` scripts (both call `check_dataset`), and the same rules a
run applies (`requirements`): a *problem* stops a run (missing files, undecodable images, empty class folders,
a single-class set, a validation fold or batch the train split cannot fill); a *warning* is a difference from
the official form that a run can live with (image or class counts other than the literature's, absent optional
verification bins). ``strict`` turns warnings into problems.

The splits are those of a run's config: the given config files, else the kit's shipped ones for the dataset
(``configs/base.yaml`` + the ``configs/datasets/*.yaml`` naming it), else the `DatasetParams` defaults.
"""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

from ..config import DatasetParams, compose, load_yaml, parse_config, stage_config
from ..errors import ConfigError, DataError
from .base import DataWarning
from .collection import build_datasets
from .requirements import batch_problems, batches_per_epoch

CONFIGS_ROOT = Path(__file__).resolve().parent.parent.parent / "configs"

# Official (images, classes) per split, docs/reference.md §8.1 (literature values; None: not compared).
OFFICIAL = {
    "cub200-openset": {"train": (5864, 100), "infer-cub200": (5924, 100)},
    "cub200-interleave-openset": {"train": (None, 100), "infer-cub200": (None, 100)},
    "cars196-openset": {"train": (8054, 98), "infer-cars196": (8131, 98)},
    "cars196-interleave-openset": {"train": (None, 98), "infer-cars196": (None, 98)},
    "sop-openset": {"train": (59551, 11318), "infer-sop": (60502, 11316)},
    "inshop-openset": {"train": (25882, 3997), "infer-inshop": (26830, 3985)},
    "lfw-openset": {"train": (None, 4038)},
    "casia-openset": {"train": (None, 10572)},
    "ms1mv2-openset": {"train": (None, 85742)},
    "ms1mv3-openset": {"train": (None, 93431)},
}


def shipped_configs(name: str, configs_root: Path = CONFIGS_ROOT) -> list[Path]:
    """``configs/base.yaml`` + the first ``configs/datasets/*.yaml`` whose ``dataset_params.name`` is ``name``
    (only base.yaml when none names it; [] when the configs folder is not there)."""
    base = configs_root / "base.yaml"
    if not base.is_file():
        return []
    for path in sorted((configs_root / "datasets").glob("*.yaml")):
        if ((load_yaml(path) or {}).get("dataset_params") or {}).get("name") == name:
            return [base, path]
    return [base]


def check_params(name: str, configs: list[str | Path] = (), overrides: list[str] = ()) -> tuple[DatasetParams, list[str]]:
    """(dataset params of the run config, the config files used). ``configs`` empty: `shipped_configs`."""
    files = list(configs) or shipped_configs(name)
    if not files:
        params = DatasetParams(name=name)
    else:
        params = stage_config(parse_config(compose(files, list(overrides))), 0).dataset_params
        if params.name is None:
            params = dataclasses.replace(params, name=name)
        elif params.name != name:
            raise ConfigError(f"the config names dataset_params.name {params.name!r}, but {name!r} is checked; "
                              f"check {params.name!r} or drop the config that sets it")
    return params, [_shown(path) for path in files]


def _shown(path: str | Path) -> str:
    """``path`` relative to the working directory when it lies below it (as a user typed it)."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _summary(dataset) -> dict:
    info = {"images" if dataset.classification else "pairs": len(dataset),
            "classes": int(dataset.num_classes) if dataset.classification else None,
            "kind": "classification" if dataset.classification else "pairs"}
    if not dataset.classification:
        info["positive_pairs"] = int(dataset.labels.sum())
    if getattr(dataset, "query_mask", None) is not None:
        info["queries"] = int(dataset.query_mask.sum())
        info["gallery"] = int(dataset.gallery_mask.sum())
    return info


def _probe(dataset, name: str, problems: list[str]) -> None:
    """Decode the first and last item of a split (a cheap check that images are where the lists say)."""
    for index in sorted({0, len(dataset) - 1}):
        try:
            dataset[index]
        except DataError as error:
            problems.append(f"{name}: {error}")
            return


def _official_differences(name: str, splits: dict) -> list[str]:
    differences = []
    for split, (images, classes) in OFFICIAL.get(name, {}).items():
        found = splits.get(split)
        if found is None:
            continue
        for key, official in (("images", images), ("classes", classes)):
            if official is not None and found.get(key) != official:
                differences.append(f"{split}: {found.get(key)} {key}, the official count is {official}")
    return differences


def check_dataset(name: str, root: str | Path, params: DatasetParams | None = None, *, probe: bool = True,
                  strict: bool = False, configs: list[str] = (), overrides: list[str] = ()) -> dict:
    """Build dataset ``name`` from ``root`` as a run would, summarise its splits and give the verdict.

    ``params``: the dataset params to check with (default: `check_params` of ``configs`` and ``overrides``). Returns ``{"name",
    "root", "ok", "strict", "configs", "splits": {split: {"images"|"pairs", "classes", ...}}, "validation",
    "batch", "problems": [...], "warnings": [...]}``. ``splits``: ``train`` (the whole train set, compared with the
    official counts), ``train-fit`` and ``valid`` when a validation fold is configured, the test sets. ``ok``:
    no problem (with ``strict``, warnings count as problems).
    """
    used = []
    if params is None:
        params, used = check_params(name, configs, overrides)
    # Variants (pairs, lossy) derive from the sets checked here; no image cache is written by a check.
    params = dataclasses.replace(params, image_cache=False, add_lossy_testsets=False, add_lossy_valsets=False,
                                 add_verification_testsets=False, add_verification_valsets=False,
                                 validate_on_test=False)
    result = {"name": name, "root": str(root), "ok": False, "strict": strict, "configs": used, "splits": {},
              "validation": None, "batch": None, "problems": [], "warnings": []}
    problems, found_warnings = result["problems"], result["warnings"]
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", DataWarning)
            collection = build_datasets(params, root, problems=problems)
    except (DataError, ConfigError) as error:
        problems.append(str(error))
        collection = None
    for warning in caught:
        if issubclass(warning.category, DataWarning):
            found_warnings.append(str(warning.message))
        else:
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    if collection is not None:
        splits = {"train": collection.full_train}
        if collection.valid:
            splits.update({"train-fit": collection.train, "valid": collection.valid["valid"]})
            result["validation"] = {"fold": params.validation_fold, "num_folds": params.num_validation_folds}
        splits.update(collection.tests)
        for split, dataset in splits.items():
            result["splits"][split] = _summary(dataset)
            if probe and len(dataset) and split != "train-fit":
                _probe(dataset, split, problems)
        found_warnings += _official_differences(name, result["splits"])
        if len(collection.train):
            result["batch"] = {"batch_size": params.batch_size, "samples_per_class": params.samples_per_class,
                               "train_repeat": params.train_repeat,
                               "batches_per_epoch": batches_per_epoch(collection.train, params)}
            problems += batch_problems(collection.train, params, collection.source)
    if strict:
        problems += [f"{warning} (an error under --strict)" for warning in found_warnings]
    result["ok"] = not problems
    return result
