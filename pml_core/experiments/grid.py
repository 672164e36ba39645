"""The paper grid: compose a run's config from ``configs/`` and run or reuse every run of a slice.

A run's config is ``base <- datasets/<dataset> <- methods/<method> <- best/<method>-<dim>-<dataset>
(when present) <- profiles/<profile> <- {stage epochs, distribution dim, seed} <- overrides``. Completed runs
(``metrics.json`` present) are reused; a run that fails is marked (``failed.json``), reported, and the
grid goes on. A run marked failed by an earlier attempt is reported again, not retried, unless
``retry_failed`` (``grid --retry-failed``) clears the marks first: a deterministic failure (a NaN at
these hyper-parameters, a bug) would otherwise cost its GPU time again on every rerun and requeue.

A grid may split its epoch budget between the stages of multi-stage methods: ``stage_epochs: [9, 3]`` in
``configs/grids/<profile>.yaml`` sets ``trainer_params.num_epochs`` of stage 0 and stage 1 of every two-stage
method (the profile's ``num_epochs``, 12, stays the single-stage budget); its ``budget:`` text states the rule.

Any number of workers may run one slice (`GridQueue` drained by `pml_core.experiments.workers`): each
run folder is claimed by one worker at a time (`pml_core.experiments.claim`), so each run is trained
once. A two-stage run whose stage 0 is another run of the slice waits for (or first trains) that run
and copies its checkpoints instead of training stage 0 again (`GridQueue.source`, `reuse_first_stage`).
"""

from __future__ import annotations

import functools
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable


from ..config import Config, compose, load_yaml, merge, num_stages, parse_config, resolved_dict, stage_config
from ..errors import ConfigError, PMLError
from ..registry import lookup
from ..train.checkpoint import stage_dir as checkpoint_dir
from ..utils import announce, write_json_atomic
from . import runstore, workers

CONFIGS_ROOT = Path(__file__).resolve().parent.parent.parent / "configs"


def _names(folder: Path) -> dict[str, Path]:
    return {path.stem: path for path in sorted(folder.glob("*.yaml"))}


def available_methods(configs_root: Path = CONFIGS_ROOT) -> list[str]:
    return list(_names(configs_root / "methods"))


def available_datasets(configs_root: Path = CONFIGS_ROOT) -> list[str]:
    return list(_names(configs_root / "datasets"))


def profile_grid(profile: str, configs_root: Path = CONFIGS_ROOT) -> dict:
    """The default slice of a profile (``configs/grids/<profile>.yaml``): datasets, methods, dims, seeds, best_k."""
    path = lookup("profile", _names(configs_root / "grids"), profile)
    return load_yaml(path)


def stage_epochs(profile: str, num_stages: int, configs_root: Path = CONFIGS_ROOT) -> list[int] | None:
    """The grid's ``stage_epochs`` split for a method of ``num_stages`` stages (None: no split for it)."""
    path = configs_root / "grids" / f"{profile}.yaml"
    if num_stages < 2 or not path.is_file():
        return None
    split = (profile_grid(profile, configs_root) or {}).get("stage_epochs")
    if split is None:
        return None
    if not (isinstance(split, list) and all(isinstance(e, int) and not isinstance(e, bool) and e >= 0 for e in split)):
        raise ConfigError(f"{path}: stage_epochs must be a list of epoch counts (one per stage), got {split!r}")
    if len(split) != num_stages:
        raise ConfigError(f"{path}: stage_epochs {split} has {len(split)} entries but a method has {num_stages} stages")
    return split


def run_config_dict(profile: str, dataset: str, method: str, dim: int, seed: int, overrides: list[str] = (),
                    configs_root: Path = CONFIGS_ROOT, *, best: bool = True) -> dict:
    """The composed (unvalidated) config dict of one grid run (``best=False``: without its tuned file, what
    a hyper-parameter search of the method starts from)."""
    sources: list = [configs_root / "base.yaml",
                     lookup("dataset", _names(configs_root / "datasets"), dataset),
                     lookup("method", _names(configs_root / "methods"), method)]
    tuned = configs_root / "best" / f"{method}-{dim}-{dataset}.yaml"
    if best and tuned.is_file():
        sources.append(tuned)
    sources.append(lookup("profile", _names(configs_root / "profiles"), profile))
    raw = compose(sources)
    split = stage_epochs(profile, len(raw.get("stages") or []), configs_root)
    for stage, epochs in zip(raw.get("stages") or [], split or []):
        stage.setdefault("trainer_params", {})["num_epochs"] = epochs
    raw = compose([raw], overrides)
    raw = merge(raw, {"seed": seed, "model_params": {"distribution_params": {"dim": dim}}})
    for stage in raw.get("stages") or []:
        if "distribution_params" in (stage.get("model_params") or {}):
            stage["model_params"]["distribution_params"]["dim"] = dim
    return raw


def reuse_first_stage(cfg: Config, path: Path, dataset_dir: Path) -> Path | None:
    """Start a multi-stage run from the stage-0 checkpoints of a complete run with the same stage-0 config.

    Two-stage families (PFE, SCF, DUL-reg, ...) begin with the deterministic run of their base loss: when the
    grid already holds a complete run whose stage 0 has exactly the same resolved config (seed included),
    its ``checkpoints/stage-0`` is copied, so stage 0 is not trained again; the result is identical.
    ``checkpoints/stage-0/reused_from.json`` names the run copied. Returns the run reused, or None.
    """
    target = checkpoint_dir(path, 0)
    if target.exists():
        return None
    wanted = resolved_dict(stage_config(cfg, 0))
    for candidate in sorted(dataset_dir.glob(f"*/{path.name}")):
        source = checkpoint_dir(candidate, 0)
        if candidate == path or not runstore.is_complete(candidate) or not (source / "last.pth").is_file():
            continue
        try:
            other = parse_config(load_yaml(candidate / "config.yaml"), check_components=False)
        except ConfigError:
            continue
        if resolved_dict(stage_config(other, 0, check_components=False)) != wanted:
            continue
        staging = target.with_name(target.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(source, staging)
        write_json_atomic(staging / "reused_from.json", {"run": str(candidate)})
        staging.rename(target)  # atomic: a kill leaves no half-copied stage
        return candidate
    return None


@dataclass(frozen=True)
class GridRun:
    """One run of a grid slice: where it lives and how its config is composed."""

    profile: str
    dataset: str
    method: str
    dim: int
    seed: int
    path: Path
    overrides: tuple[str, ...] = ()
    configs_root: Path = CONFIGS_ROOT

    @property
    def label(self) -> str:
        return f"{self.dataset}/{self.method}-{self.dim}/seed-{self.seed}"

    def config(self) -> Config:
        return parse_config(run_config_dict(self.profile, self.dataset, self.method, self.dim, self.seed,
                                            list(self.overrides), self.configs_root))


@dataclass(frozen=True)
class GridQueue:
    """The runs of a slice as a queue for `pml_core.experiments.workers` (picklable: sent to every worker)."""

    profile: str
    datasets: tuple[str, ...]
    methods: tuple[str, ...]
    dims: tuple[int, ...]
    seeds: tuple[int, ...]
    results_root: Path
    overrides: tuple[str, ...] = ()
    configs_root: Path = CONFIGS_ROOT

    @property
    def name(self) -> str:
        return f"grid-{self.profile}"

    def jobs_folder(self) -> Path:
        return Path(self.results_root) / ".submitit" / self.profile

    def runs(self) -> list[GridRun]:
        return list(_queue_runs(self))

    def source(self, run: GridRun) -> GridRun | None:
        """The run of the slice that supplies ``run``'s stage 0, or None (single-stage, or first of its kind).

        Among the runs of the same dataset, dim and seed whose stage 0 has the same resolved config, the
        source is the first single-stage one (e.g. ``arcface`` for ``pfe-arcface``), else the first in
        slice order; ``run`` waits for it to complete, then copies its checkpoints (`reuse_first_stage`).
        """
        stages, key = _stage0(run)
        if stages < 2:
            return None
        same = [other for other in _groups(self)[(run.dataset, run.dim, run.seed)] if _stage0(other)[1] == key]
        same.sort(key=lambda other: _stage0(other)[0] > 1)  # single-stage first, then slice order
        return same[0] if same[0] != run else None

    def prepare(self, run: GridRun, cfg: Config) -> None:
        if num_stages(cfg) > 1:
            reuse_first_stage(cfg, run.path, run.path.parent.parent)

    def finish(self, data_root) -> None:
        pass

    def check_names(self) -> None:
        """ConfigError (with the closest name) for a dataset or method that has no config."""
        for dataset in self.datasets:
            lookup("dataset", _names(self.configs_root / "datasets"), dataset)
        for method in self.methods:
            lookup("method", _names(self.configs_root / "methods"), method)

    def check(self) -> None:
        """Compose and validate one config per dataset and method (ConfigError before any worker starts)."""
        self.check_names()
        for dataset in self.datasets:
            for method in self.methods:
                GridRun(self.profile, dataset, method, self.dims[0], self.seeds[0], Path(), self.overrides,
                        self.configs_root).config()


@functools.lru_cache(maxsize=16)
def _queue_runs(queue: GridQueue) -> tuple[GridRun, ...]:
    return tuple(GridRun(queue.profile, dataset, method, dim, seed,
                         runstore.run_dir(queue.results_root, queue.profile, dataset, method, dim, seed),
                         queue.overrides, queue.configs_root)
                 for dataset in queue.datasets for method in queue.methods for dim in queue.dims
                 for seed in queue.seeds)


@functools.lru_cache(maxsize=16)
def _groups(queue: GridQueue) -> dict[tuple, list[GridRun]]:
    groups: dict[tuple, list[GridRun]] = {}
    for run in _queue_runs(queue):
        groups.setdefault((run.dataset, run.dim, run.seed), []).append(run)
    return groups


def _stage0(run: GridRun) -> tuple[int, str]:
    """(number of stages, stage 0's resolved config as JSON) of a run's method, computed at seed 0.

    Runs are compared within one seed, where both sides carry the same seed; computing at seed 0 composes
    one config per dataset, method and dim instead of one per run.
    """
    return _stage0_at_seed0(run.profile, run.dataset, run.method, run.dim, run.overrides, run.configs_root)


@functools.lru_cache(maxsize=None)
def _stage0_at_seed0(profile: str, dataset: str, method: str, dim: int, overrides: tuple, configs_root: Path):
    cfg = parse_config(run_config_dict(profile, dataset, method, dim, 0, list(overrides), configs_root))
    return num_stages(cfg), json.dumps(resolved_dict(stage_config(cfg, 0)), sort_keys=True, default=str)


@dataclass
class GridReport:
    completed: list[Path] = field(default_factory=list)
    reused: list[Path] = field(default_factory=list)
    failed: dict[Path, str] = field(default_factory=dict)
    earlier_failed: list[Path] = field(default_factory=list)  # failed before this call, not retried
    pending: list[Path] = field(default_factory=list)
    seconds: float = 0.0
    launch: workers.Outcome | None = None

    def summary(self) -> str:
        counts = f"{len(self.completed)} trained, {len(self.reused)} reused, {len(self.failed)} failed"
        if self.pending:
            counts += f", {len(self.pending)} pending"
        lines = [f"grid: {counts} in {self.seconds:.0f} s"]
        if self.launch is not None and self.launch.describe():
            lines.append(f"  {self.launch.describe()}")
        for path, reason in self.failed.items():
            earlier = " (an earlier attempt; not retried: add --retry-failed)" if path in self.earlier_failed else ""
            lines.append(f"  FAILED{earlier} {path}: {reason}")
        return "\n".join(lines)


def ensure_runs(profile: str, datasets: list[str], methods: list[str], dims: list[int], seeds: list[int], *,
                results_root: str | Path, data_root: str | Path, overrides: list[str] = (), progress: bool = False,
                logger: str = "tensorboard", echo: Callable[[str], None] | None = None,
                configs_root: Path = CONFIGS_ROOT, launch: workers.Launch | None = None, retry_failed: bool = False,
                verbose: bool = False) -> GridReport:
    """Run (or reuse) every run of the slice; a failing run is recorded and the others go on.

    ``logger``: every trained run's logger (default TensorBoard, ``<run>/tensorboard``). ``echo`` (e.g.
    ``print``) gets progress lines: how many runs are complete, then per run it trains
    ``[i/n] <dataset>/<method>-<dim>/seed-<s>: epoch e/E, loss ..., <selection metric> ...`` and its result
    (workers in other processes print theirs). ``verbose``: say on stderr which complete runs are reused.
    ``launch`` (default: this process) farms the slice out to local worker processes or a Slurm job array; a
    Slurm launch returns once submitted (``report.pending`` holds what is left to train).
    """
    launch = launch or workers.Launch()
    queue = GridQueue(profile, tuple(datasets), tuple(methods), tuple(dims), tuple(seeds), Path(results_root),
                      tuple(overrides), configs_root)
    runs = queue.runs()
    if retry_failed:
        workers.clear_failed(runs)
    before = {run.path: workers.state(run.path) for run in runs}
    other_config = _complete_runs_of_other_configs(runs, before)
    if verbose:  # the CLI says which runs it reuses; notebooks print the summary only
        for path in (path for path, state in before.items() if state == "complete" and path not in other_config):
            announce(f"reusing the complete run in {path}")
    if echo:
        done = sum(state == "complete" for state in before.values())
        echo(f"grid: {len(runs)} runs, {done} complete (reused), {len(runs) - done} to train")
    if not launch.in_process:
        queue.check()
    started = time.perf_counter()
    outcome = workers.launch(queue, launch, data_root, logger=logger, progress=progress, echo=echo)
    report = GridReport(seconds=time.perf_counter() - started, launch=outcome)
    for run in runs:
        now = workers.state(run.path)
        if run.path in other_config:
            report.failed[run.path] = other_config[run.path]
        elif now == "complete":
            (report.reused if before[run.path] == "complete" else report.completed).append(run.path)
        elif now == "failed":
            report.failed[run.path] = _failure_reason(run.path)
            if before[run.path] == "failed":
                report.earlier_failed.append(run.path)
        else:
            report.pending.append(run.path)
    return report


def _complete_runs_of_other_configs(runs, states: dict[Path, str]) -> dict[Path, str]:
    """{run folder: reason} for the complete runs whose config.yaml is not the slice's config for them: a
    complete run is reused for its own config only (a changed config file, profile or override)."""
    from .run import check_same_config

    refused = {}
    for run in runs:
        if states[run.path] == "complete":
            try:
                check_same_config(run.path, run.config())
            except PMLError as error:
                refused[run.path] = str(error)
    return refused


def _failure_reason(path: Path) -> str:
    try:
        return json.loads((path / "failed.json").read_text()).get("reason", "(no reason recorded)")
    except (OSError, ValueError):
        return "(failed.json cannot be read)"
