"""The paper grid: compose a run's config from ``configs/`` and run or reuse every run of a slice.

A run's config is ``base <- datasets/<dataset> <- methods/<method> <- best/<method>-<dim>-<dataset>
(when present) <- profiles/<profile> <- {distribution dim, seed} <- overrides``. Completed runs
(``metrics.json`` present) are reused; failed ones are reported and the grid goes on.
"""

from __future__ import annotations

import shutil
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import yaml

from ..config import Config, compose, merge, num_stages, parse_config, resolved_dict, stage_config
from ..errors import ConfigError, PMLError
from ..registry import lookup
from ..train.checkpoint import stage_dir as checkpoint_dir
from . import runstore

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
    return yaml.safe_load(path.read_text())


def run_config_dict(profile: str, dataset: str, method: str, dim: int, seed: int, overrides: list[str] = (),
                    configs_root: Path = CONFIGS_ROOT) -> dict:
    """The composed (unvalidated) config dict of one grid run."""
    sources: list = [configs_root / "base.yaml",
                     lookup("dataset", _names(configs_root / "datasets"), dataset),
                     lookup("method", _names(configs_root / "methods"), method)]
    best = configs_root / "best" / f"{method}-{dim}-{dataset}.yaml"
    if best.is_file():
        sources.append(best)
    sources.append(lookup("profile", _names(configs_root / "profiles"), profile))
    raw = compose(sources, overrides)
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
    Returns the run reused, or None.
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
            other = parse_config(yaml.safe_load((candidate / "config.yaml").read_text()), check_components=False)
        except (OSError, ConfigError, yaml.YAMLError):
            continue
        if resolved_dict(stage_config(other, 0, check_components=False)) != wanted:
            continue
        staging = target.with_name(target.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(source, staging)
        staging.rename(target)  # atomic: a kill leaves no half-copied stage
        return candidate
    return None


@dataclass
class GridReport:
    completed: list[Path] = field(default_factory=list)
    reused: list[Path] = field(default_factory=list)
    failed: dict[Path, str] = field(default_factory=dict)
    seconds: float = 0.0

    def summary(self) -> str:
        lines = [f"grid: {len(self.completed)} trained, {len(self.reused)} reused, {len(self.failed)} failed "
                 f"in {self.seconds:.0f} s"]
        lines += [f"  FAILED {path}: {reason}" for path, reason in self.failed.items()]
        return "\n".join(lines)


def ensure_runs(profile: str, datasets: list[str], methods: list[str], dims: list[int], seeds: list[int], *,
                results_root: str | Path, data_root: str | Path, overrides: list[str] = (), progress: bool = False,
                logger: str = "tensorboard", echo: Callable[[str], None] | None = None,
                configs_root: Path = CONFIGS_ROOT) -> GridReport:
    """Run (or reuse) every run of the slice; a failing run is recorded and the others go on.

    ``logger``: every trained run's logger (default TensorBoard, ``<run>/tensorboard``). ``echo`` (e.g.
    ``print``) gets progress lines: how many runs are complete, then per run it trains
    ``[i/n] <dataset>/<method>-<dim> seed <s>: epoch e/E, loss ..., <selection metric> ...`` and its result.
    """
    report = GridReport()
    started = time.perf_counter()
    total, index = len(datasets) * len(methods) * len(dims) * len(seeds), 0
    if echo:
        done = sum(runstore.is_complete(runstore.run_dir(results_root, profile, d, m, dim, s))
                   for d in datasets for m in methods for dim in dims for s in seeds)
        echo(f"grid: {total} runs, {done} complete (reused), {total - done} to train")
    for dataset in datasets:
        for method in methods:
            for dim in dims:
                for seed in seeds:
                    index += 1
                    path = runstore.run_dir(results_root, profile, dataset, method, dim, seed)
                    if runstore.is_complete(path):
                        report.reused.append(path)
                        continue
                    try:
                        cfg = parse_config(run_config_dict(profile, dataset, method, dim, seed, overrides, configs_root))
                        if num_stages(cfg) > 1:
                            reuse_first_stage(cfg, path, path.parent.parent)
                        _train(cfg, path, data_root, logger, progress, echo,
                               f"[{index}/{total}] {dataset}/{method}-{dim} seed {seed}")
                        report.completed.append(path)
                    except ConfigError:
                        raise  # a wrong grid slice: nothing else would work either
                    except PMLError as error:
                        report.failed[path] = str(error)
                    except Exception as error:  # a bug in one method must not stop the grid
                        report.failed[path] = f"{type(error).__name__}: {error}"
                        runstore.mark_failed(path, report.failed[path], traceback=traceback.format_exc())
    report.seconds = time.perf_counter() - started
    return report


def _train(cfg: Config, path: Path, data_root, logger: str, progress: bool, echo, prefix: str) -> None:
    """`train_run` one grid run; with ``echo``, one line per epoch and one with the test result."""
    from ..train.loggers import EchoLogger, create_logger
    from ..train.loop import global_epoch_offset
    from .run import train_run

    if echo is None:
        train_run(cfg, path, data_root, logger=logger, progress=progress)
        return
    last = stage_config(cfg, num_stages(cfg) - 1).trainer_params
    watched = f"{last.selection_dataset}/{last.selection_metric}"
    run_logger = EchoLogger(create_logger(logger, path), echo, prefix, global_epoch_offset(cfg, num_stages(cfg)),
                            watched)
    started = time.perf_counter()
    try:
        metrics = train_run(cfg, path, data_root, logger=run_logger, progress=progress)
    except Exception as error:
        echo(f"{prefix}: FAILED ({type(error).__name__}: {error})")
        raise
    finally:
        run_logger.close()
    tests = {name: values for name, values in metrics.items() if name.startswith("infer-") and "recall@1" in values}
    result = ", ".join(f"{name} recall@1 {values['recall@1']:.3f}" for name, values in list(tests.items())[:1])
    echo(f"{prefix}: done in {time.perf_counter() - started:.0f} s" + (f", {result}" if result else ""))
