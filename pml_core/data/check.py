"""`check_dataset`: layout check and split summary of a dataset (``python -m pml_core data check NAME ROOT``)."""

from __future__ import annotations

from pathlib import Path

from ..config import DatasetParams
from ..errors import ConfigError, DataError
from .collection import build_datasets

# Official (images, classes) per split, docs/reference.md §8.1 (literature values).
OFFICIAL = {
    "cub200-openset": {"train": (5864, 100), "infer-cub200": (5924, 100)},
    "cars196-openset": {"train": (8054, 98), "infer-cars196": (8131, 98)},
    "sop-openset": {"train": (59551, 11318), "infer-sop": (60502, 11316)},
    "inshop-openset": {"train": (25882, 3997), "infer-inshop": (26830, 3985)},
    "lfw-openset": {"train": (None, 4038)},
}


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
        if index < 0:
            continue
        try:
            dataset[index]
        except DataError as error:
            problems.append(f"{name}: {error}")
            return


def check_dataset(name: str, root: str | Path, params: DatasetParams | None = None, probe: bool = True) -> dict:
    """Build dataset ``name`` from ``root`` and summarise its splits.

    Returns ``{"name", "root", "ok", "splits": {split: {"images"|"pairs", "classes", ...}}, "problems": [...]}``;
    problems are layout errors (DataError messages), undecodable probe images and counts that differ from the
    official ones.
    """
    params = params or DatasetParams(name=name, add_verification_testsets=False)
    result = {"name": name, "root": str(root), "ok": False, "splits": {}, "problems": []}
    try:
        collection = build_datasets(params, root)
    except (DataError, ConfigError) as error:
        result["problems"].append(str(error))
        return result
    splits = {"train": collection.train, **collection.valid, **collection.tests}
    for split, dataset in splits.items():
        result["splits"][split] = _summary(dataset)
        if probe and len(dataset):
            _probe(dataset, split, result["problems"])
    for split, (images, classes) in OFFICIAL.get(name, {}).items():
        found = result["splits"].get(split)
        if found is None:
            continue
        if images is not None and found.get("images") != images:
            result["problems"].append(f"{split}: {found.get('images')} images, the official count is {images}")
        if classes is not None and found.get("classes") != classes:
            result["problems"].append(f"{split}: {found.get('classes')} classes, the official count is {classes}")
    result["ok"] = not result["problems"]
    return result
