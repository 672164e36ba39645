"""Repeated runs of one config: seeds (`evaluate`), validation folds (`cval`), both (`evaluate-cval`).

Every run is an ordinary run folder (``train_run``), so an interrupted protocol resumes run by run and
completed runs are reused. By default the runs go one after another in this process; `run_protocol`
with a `pml_core.experiments.workers.Launch` hands them to local worker processes or a Slurm job array
instead (`ProtocolQueue`), and the aggregate is computed once every run is complete (by the command
here, or by the Slurm worker that completes the last run). The aggregate is written atomically as
``<root>/metrics.json``::

    {set: {metric: mean, metric_std: population std}, ...,
     "runs": {run name: selection score},
     "best_k": {"k": k, "n": n, "runs": [names], "metrics": {set: {metric: mean, metric_std: std}}}}

Aggregation ignores the ``*_std`` keys of the runs (a cval run is itself an aggregate) and
non-numeric values; a metric missing or null in some runs is averaged over the runs that have it.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
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


def _train(data_root, logger, progress, wait: bool | float = False) -> RunFn:
    from .run import train_run

    return lambda cfg, root: train_run(cfg, root, data_root, logger=logger, progress=progress, wait=wait)


def seed_runs(cfg: Config, root: str | Path, from_seed: int = 0) -> dict[str, tuple[Config, Path]]:
    """``{seed-<s>: (config with seed=s, <root>/seed-<s>)}`` for s in [from_seed, num_evaluation_seeds)."""
    seeds = range(from_seed, cfg.num_evaluation_seeds)
    if not len(seeds):
        from ..errors import ConfigError

        raise ConfigError(f"--from-seed {from_seed} leaves no seed below num_evaluation_seeds={cfg.num_evaluation_seeds}")
    return {f"seed-{s}": (patched(cfg, {"seed": s}), Path(root) / f"seed-{s}") for s in seeds}


def fold_runs(cfg: Config, root: str | Path) -> dict[str, tuple[Config, Path]]:
    """``{fold-<i>: (config with validation_fold=i and seed=seed+i, <root>/fold-<i>)}`` for every fold."""
    return {f"fold-{fold}": (patched(cfg, {"seed": cfg.seed + fold, "dataset_params": {"validation_fold": fold}}),
                             Path(root) / f"fold-{fold}")
            for fold in range(cfg.dataset_params.num_validation_folds)}


def evaluate_seeds(cfg: Config, root: str | Path, data_root: str | Path, *, from_seed: int = 0,
                   best_k: int | None = None, logger="tensorboard", progress: bool = True,
                   run_fn: RunFn | None = None, wait: bool | float = False) -> dict:
    """Runs ``<root>/seed-<s>`` with ``seed=s`` for s in [from_seed, num_evaluation_seeds), aggregated."""
    run_fn = run_fn or _train(data_root, logger, progress, wait)
    runs = {name: run_fn(seed_cfg, path) for name, (seed_cfg, path) in seed_runs(cfg, root, from_seed).items()}
    dataset, metric, minimize = selection_of(cfg)
    return write_aggregate(root, aggregate(runs, dataset=dataset, metric=metric, minimize=minimize, best_k=best_k))


def cross_validate(cfg: Config, root: str | Path, data_root: str | Path, *, logger="tensorboard",
                   progress: bool = True, run_fn: RunFn | None = None, wait: bool | float = False) -> dict:
    """Runs ``<root>/fold-<i>`` with ``validation_fold=i``, ``seed=seed+i`` for every fold, aggregated."""
    run_fn = run_fn or _train(data_root, logger, progress, wait)
    runs = {name: run_fn(fold_cfg, path) for name, (fold_cfg, path) in fold_runs(cfg, root).items()}
    dataset, metric, minimize = selection_of(cfg)
    return write_aggregate(root, aggregate(runs, dataset=dataset, metric=metric, minimize=minimize))


def evaluate_cval(cfg: Config, root: str | Path, data_root: str | Path, *, from_seed: int = 0,
                  best_k: int | None = None, logger="tensorboard", progress: bool = True,
                  wait: bool | float = False) -> dict:
    """`cross_validate` in ``<root>/seed-<s>`` for every evaluation seed, aggregated over seeds."""
    inner = _train(data_root, logger, progress, wait)

    def cval_run(seed_cfg: Config, seed_root: Path) -> dict:
        return cross_validate(seed_cfg, seed_root, data_root, run_fn=inner)

    return evaluate_seeds(cfg, root, data_root, from_seed=from_seed, best_k=best_k, run_fn=cval_run)


# -- the same protocols farmed out to workers ----------------------------------------------------

PROTOCOLS = {"evaluate": evaluate_seeds, "cval": cross_validate, "evaluate-cval": evaluate_cval}


def protocol_runs(kind: str, cfg: Config, root: str | Path, from_seed: int = 0) -> list[tuple[str, Config, Path]]:
    """Every training run of protocol ``kind`` as (label, config, folder), in the order the protocol runs them."""
    if kind == "cval":
        return [(name, c, p) for name, (c, p) in fold_runs(cfg, root).items()]
    seeds = seed_runs(cfg, root, from_seed)
    if kind == "evaluate":
        return [(name, c, p) for name, (c, p) in seeds.items()]
    return [(f"{seed}/{fold}", c, p) for seed, (seed_cfg, seed_root) in seeds.items()
            for fold, (c, p) in fold_runs(seed_cfg, seed_root).items()]


@dataclass(frozen=True)
class ProtocolRun:
    label: str
    path: Path
    config_dict: dict = field(compare=False, hash=False)

    def config(self) -> Config:
        return parse_config(self.config_dict)


@dataclass(frozen=True)
class ProtocolQueue:
    """The runs of an ``evaluate`` / ``cval`` / ``evaluate-cval`` as a queue for `pml_core.experiments.workers`."""

    kind: str
    config_dict: dict = field(compare=False, hash=False)
    root: Path = Path()
    from_seed: int = 0
    best_k: int | None = None

    @property
    def name(self) -> str:
        return self.kind

    def jobs_folder(self) -> Path:
        return Path(self.root) / ".submitit"

    def runs(self) -> list[ProtocolRun]:
        cfg = parse_config(self.config_dict)
        return [ProtocolRun(label, path, run_cfg.to_dict())
                for label, run_cfg, path in protocol_runs(self.kind, cfg, self.root, self.from_seed)]

    def source(self, run):
        return None

    def prepare(self, run, cfg) -> None:
        pass

    def finish(self, data_root, logger="none") -> dict:
        """The aggregate (every run complete: nothing is trained) written as ``<root>/metrics.json``."""
        cfg = parse_config(self.config_dict)
        options = {"from_seed": self.from_seed, "best_k": self.best_k} if self.kind != "cval" else {}
        return PROTOCOLS[self.kind](cfg, self.root, data_root, logger=logger, progress=False, **options)


def run_protocol(kind: str, cfg: Config, root: str | Path, data_root: str | Path, *, from_seed: int = 0,
                 best_k: int | None = None, logger="tensorboard", progress: bool = True, wait: bool | float = False,
                 launch=None) -> dict | None:
    """Protocol ``kind`` here (``launch`` None or one in-process worker) or farmed out to ``launch``'s workers.

    Returns the aggregate, or None when a Slurm launch was submitted (its last worker writes the
    aggregate; rerunning the command without ``--launcher`` prints it). A run that failed or was left
    pending by the workers is a `RunError` naming it.
    """
    options = {"from_seed": from_seed, "best_k": best_k} if kind != "cval" else {}
    if launch is None or launch.in_process:
        return PROTOCOLS[kind](cfg, root, data_root, logger=logger, progress=progress, wait=wait, **options)
    from . import workers

    queue = ProtocolQueue(kind, cfg.to_dict(), Path(root), from_seed, best_k)
    runs = queue.runs()
    workers.clear_failed(runs)  # running the command again is how a protocol's failed run is retried
    outcome = workers.launch(queue, launch, data_root, logger=logger)
    if outcome.submitted:
        print(outcome.describe())
        return None
    states = {run.label: workers.state(run.path) for run in runs}
    left = {label: s for label, s in states.items() if s != "complete"}
    if left:
        from ..errors import RunError

        details = ", ".join(f"{label} {s}" for label, s in left.items())
        raise RunError(f"{kind} in {root}: {details} ({outcome.describe() or 'see the workers output above'}); "
                       "run the command again to retry")
    return queue.finish(data_root)
