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


def neighbours_and_images(run: str | Path, data_root: str | Path, k: int = 5, test_set: str | None = None):
    """``(images (N,H,W,3) uint8, labels (N,), means (N,D), confidences (N,) or None, neighbours (N,k))``
    of a test set of a finished run (default: the first ``infer-*`` set), from its stored predictions."""
    from ..data import build_datasets
    from ..metrics import knn

    cfg = load_run_config(run)
    predictions = runstore.read_predictions(run)
    test_set = test_set or next(name for name in predictions if name.startswith("infer-") and "pairs" not in name)
    stored = predictions[test_set]
    dataset = build_datasets(cfg.dataset_params, data_root).tests[test_set]
    images = np.stack([np.asarray(dataset[i][0]) for i in range(len(dataset))])
    means = torch.from_numpy(stored["mean"])
    ids = torch.arange(len(means))
    _, neighbours = knn(means, means, k, similarity="cosine", query_ids=ids)
    return images, stored["labels"], stored["mean"], stored.get("confidence"), neighbours.numpy()
