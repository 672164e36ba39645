"""Look inside a finished run: its config, an untrained baseline, images with their neighbours."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..config import Config, load_yaml, parse_config
from . import runstore


def load_run_config(run: str | Path) -> Config:
    return parse_config(load_yaml(Path(run) / "config.yaml"))


def untrained_metrics(run: str | Path, data_root: str | Path) -> dict:
    """Metrics of the run's architecture at its random initialisation (seeded as the run), same sets."""
    from .run import test_checkpoint

    metrics, _ = test_checkpoint(load_run_config(run), None, data_root, progress=False)
    return metrics


def stored_test_set(run: str | Path, data_root: str | Path, test_set: str | None = None):
    """``(dataset, stored arrays)`` of a test set of a finished run (default: its first ``infer-*`` set
    that is not a pair set): the dataset as the run's config builds it, the arrays from ``predictions.npz``."""
    from ..data import build_datasets

    cfg = load_run_config(run)
    predictions = runstore.read_predictions(run)
    test_set = test_set or next(name for name in predictions if name.startswith("infer-") and "pairs" not in name)
    return build_datasets(cfg.dataset_params, data_root).tests[test_set], predictions[test_set]


def class_names(dataset) -> list[str] | None:
    """The name of each class label of ``dataset`` when it knows them (glyphs: the characters), else None."""
    names = getattr(dataset, "chars", None)
    return None if names is None else [str(name) for name in names]


def cosine_neighbours(means: np.ndarray, k: int) -> np.ndarray:
    """``(N, k)`` indices of each row's k nearest other rows by cosine of ``means`` ``(N, D)`` (self excluded)."""
    from ..metrics import knn

    vectors = torch.from_numpy(np.asarray(means))
    _, neighbours = knn(vectors, vectors, k, similarity="cosine", query_ids=torch.arange(len(vectors)))
    return neighbours.numpy()


def neighbours_and_images(run: str | Path, data_root: str | Path, k: int = 5, test_set: str | None = None):
    """``(images (N,H,W,3) uint8, labels (N,), means (N,D), confidences (N,) or None, neighbours (N,k))``
    of a test set of a finished run (default: the first ``infer-*`` set), from its stored predictions."""
    dataset, stored = stored_test_set(run, data_root, test_set)
    images = np.stack([np.asarray(dataset[i][0]) for i in range(len(dataset))])
    return images, stored["labels"], stored["mean"], stored.get("confidence"), cosine_neighbours(stored["mean"], k)
