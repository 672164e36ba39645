"""The paper grid: compose a run's config from ``configs/`` and run or reuse every run of a slice.

A run's config is ``base <- datasets/<dataset> <- methods/<method> <- best/<method>-<dim>-<dataset>
(when present) <- profiles/<profile> <- {stage epochs, distribution dim, seed} <- overrides``. Completed runs
(``metrics.json`` present) are reused; failed ones are reported and the grid goes on.

A grid may split its epoch budget between the stages of multi-stage methods: ``stage_epochs: [9, 3]`` in
``configs/grids/<profile>.yaml`` sets ``trainer_params.num_epochs`` of stage 0 and stage 1 of every two-stage
method (the profile's ``num_epochs``, 12, stays the single-stage budget); its ``budget:`` text states the rule.
"""

from __future__ import annotations

import shutil
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

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


def stage_epochs(profile: str, num_stages: int, configs_root: Path = CONFIGS_ROOT) -> list[int] | None:
    """The grid's ``stage_epochs`` split for a method of ``num_stages`` stages (None: no split for it)."""
    path = configs_root / "grids" / f"{profile}.yaml"
    split = (yaml.safe_load(path.read_text()) or {}).get("stage_epochs") if path.is_file() else None
    if split is None or num_stages < 2:
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
                logger: str = "none", configs_root: Path = CONFIGS_ROOT) -> GridReport:
    """Run (or reuse) every run of the slice; a failing run is recorded and the others go on."""
    from .run import train_run

    report = GridReport()
    started = time.perf_counter()
    for dataset in datasets:
        for method in methods:
            for dim in dims:
                for seed in seeds:
                    path = runstore.run_dir(results_root, profile, dataset, method, dim, seed)
                    if runstore.is_complete(path):
                        report.reused.append(path)
                        continue
                    try:
                        cfg = parse_config(run_config_dict(profile, dataset, method, dim, seed, overrides, configs_root))
                        if num_stages(cfg) > 1:
                            reuse_first_stage(cfg, path, path.parent.parent)
                        train_run(cfg, path, data_root, logger=logger, progress=progress)
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
