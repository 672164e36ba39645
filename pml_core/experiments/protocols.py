"""Repeated runs of one config: seeds (`evaluate`), validation folds (`cval`), both (`evaluate-cval`).

Every run is an ordinary run folder (``train_run``), so an interrupted protocol resumes run by run and
completed runs are reused. The runs go one after another in this process (no subprocesses); the
aggregate is written atomically as ``<root>/metrics.json``::

    {set: {metric: mean, metric_std: population std}, ...,
     "runs": {run name: selection score},
     "best_k": {"k": k, "n": n, "runs": [names], "metrics": {set: {metric: mean, metric_std: std}}}}

Aggregation ignores the ``*_std`` keys of the runs (a cval run is itself an aggregate) and
non-numeric values; a metric missing or null in some runs is averaged over the runs that have it.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Callable

import numpy as np

from ..config import Config, merge, num_stages, parse_config, stage_config
from ..utils import write_json_atomic
from . import runstore
from .runstore import finite_or_none

RESERVED = ("runs", "best_k")


def patched(cfg: Config, patch: dict) -> Config:
    """``cfg`` with a nested patch applied (validated again)."""
    return parse_config(merge(cfg.to_dict(), patch))


def selection_of(cfg: Config) -> tuple[str, str, bool]:
    """(selection dataset, selection metric, minimize) of the last stage."""
    tp = stage_config(cfg, num_stages(cfg) - 1).trainer_params
    return tp.selection_dataset, tp.selection_metric, tp.selection_minimize


def selection_score(metrics: dict, dataset: str, metric: str) -> float:
    """``metrics[dataset][metric]`` of a run (or of an aggregate); for ``train`` the stage's selection score."""
    value = (metrics.get(dataset) or {}).get(metric)
    if value is None and dataset == "train":
        value = (metrics.get("selection") or {}).get("score")
    return float("nan") if value is None else float(value)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value is not None


def mean_std(runs: list[dict]) -> dict:
    """``{set: {metric: mean, metric_std: population std}}`` over runs' ``{set: {metric: value}}``."""
    values: dict[str, dict[str, list[float]]] = {}
    for metrics in runs:
        for name, row in metrics.items():
            if name in RESERVED or not isinstance(row, dict):
                continue
            for key, value in row.items():
                if key.endswith("_std") or not _is_number(value) or not math.isfinite(value):
                    continue
                values.setdefault(name, {}).setdefault(key, []).append(float(value))
    result: dict[str, dict[str, float]] = {}
    for name, row in values.items():
        out = result.setdefault(name, {})
        for key, items in row.items():
            array = np.asarray(items, dtype=np.float64)
            out[key] = float(array.mean())
            out[f"{key}_std"] = float(array.std())  # population std (ddof 0), as the reference
    return result


def aggregate(runs: dict[str, dict], *, dataset: str, metric: str, minimize: bool, best_k: int | None = None) -> dict:
    """Mean / std over all runs plus the best ``best_k`` runs by the selection score (NaN scores last)."""
    names = list(runs)
    scores = {name: selection_score(runs[name], dataset, metric) for name in names}
    result = mean_std(list(runs.values()))
    result["runs"] = dict(scores)
    k = len(names) if best_k is None else max(1, min(best_k, len(names)))

    def order(name: str):
        score = scores[name]
        if math.isnan(score):
            return (1, 0.0)
        return (0, score if minimize else -score)

    best = sorted(names, key=order)[:k]
    result["best_k"] = {"k": k, "n": len(names), "runs": best, "metrics": mean_std([runs[n] for n in best])}
    return result


def write_aggregate(root: str | Path, result: dict) -> dict:
    """Write ``<root>/metrics.json`` (under torchrun: rank 0 only; the runs before it already synchronised)."""
    root = Path(root)
    if int(os.environ.get("RANK", "0")) != 0:
        return finite_or_none(result)
    root.mkdir(parents=True, exist_ok=True)
    write_json_atomic(root / "metrics.json", finite_or_none(result))
    return runstore.read_metrics(root)


RunFn = Callable[[Config, Path], dict]


def _train(data_root, logger, progress) -> RunFn:
    from .run import train_run

    return lambda cfg, root: train_run(cfg, root, data_root, logger=logger, progress=progress)


def evaluate_seeds(cfg: Config, root: str | Path, data_root: str | Path, *, from_seed: int = 0,
                   best_k: int | None = None, logger="tensorboard", progress: bool = True,
                   run_fn: RunFn | None = None) -> dict:
    """Runs ``<root>/seed-<s>`` with ``seed=s`` for s in [from_seed, num_evaluation_seeds), aggregated."""
    run_fn = run_fn or _train(data_root, logger, progress)
    seeds = range(from_seed, cfg.num_evaluation_seeds)
    if not len(seeds):
        from ..errors import ConfigError

        raise ConfigError(f"--from-seed {from_seed} leaves no seed below num_evaluation_seeds={cfg.num_evaluation_seeds}")
    runs = {f"seed-{s}": run_fn(patched(cfg, {"seed": s}), Path(root) / f"seed-{s}") for s in seeds}
    dataset, metric, minimize = selection_of(cfg)
    return write_aggregate(root, aggregate(runs, dataset=dataset, metric=metric, minimize=minimize, best_k=best_k))


def cross_validate(cfg: Config, root: str | Path, data_root: str | Path, *, logger="tensorboard",
                   progress: bool = True, run_fn: RunFn | None = None) -> dict:
    """Runs ``<root>/fold-<i>`` with ``validation_fold=i``, ``seed=seed+i`` for every fold, aggregated."""
    run_fn = run_fn or _train(data_root, logger, progress)
    folds = cfg.dataset_params.num_validation_folds
    runs = {}
    for fold in range(folds):
        fold_cfg = patched(cfg, {"seed": cfg.seed + fold, "dataset_params": {"validation_fold": fold}})
        runs[f"fold-{fold}"] = run_fn(fold_cfg, Path(root) / f"fold-{fold}")
    dataset, metric, minimize = selection_of(cfg)
    return write_aggregate(root, aggregate(runs, dataset=dataset, metric=metric, minimize=minimize))


def evaluate_cval(cfg: Config, root: str | Path, data_root: str | Path, *, from_seed: int = 0,
                  best_k: int | None = None, logger="tensorboard", progress: bool = True) -> dict:
    """`cross_validate` in ``<root>/seed-<s>`` for every evaluation seed, aggregated over seeds."""
    inner = _train(data_root, logger, progress)

    def cval_run(seed_cfg: Config, seed_root: Path) -> dict:
        return cross_validate(seed_cfg, seed_root, data_root, run_fn=inner)

    return evaluate_seeds(cfg, root, data_root, from_seed=from_seed, best_k=best_k, run_fn=cval_run)
