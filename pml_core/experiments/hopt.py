"""Hyper-parameter search over the `_hopt` specs of a config (docs/reference.md §9.1, §9.5).

Spec convention (the reference's): ``{distribution: log_uniform, min, max}`` with bounds in natural-log
space (log-uniform on [e^min, e^max]); ``{distribution: uniform, min, max}`` (also the default), an int
range when both bounds are ints; ``{values: [...]}`` categorical.

A trial's values are injected as `_hopt` constants next to their specs, the reference's mechanism, so
they reach keys inside ``stages`` too. Each trial runs in ``<root>/trial-<n>`` with the ``hopt_params``
patch applied and a seed drawn in [0, 65536]; its value is ``metrics[selection_dataset][selection_metric]``.

Backends: ``optuna-tpe`` (default; local, no account; ``storage`` may be a shared database URL so that
several machines work on one study) and ``wandb-bayes`` / ``wandb-random`` (wandb sweeps; need a server).
Results: ``<root>/hopt_trials.csv`` (every trial) and ``<root>/hopt_best.yaml`` (the best values as a
config patch usable with ``--config``).
"""

from __future__ import annotations

import copy
import csv
import io
import math
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import yaml

from ..config import Config, dump_yaml, merge, parse_config
from ..errors import ConfigError, PMLError
from ..utils import write_text_atomic


@dataclass(frozen=True)
class Spec:
    """One searched key: the `_hopt` block holding it (path of keys / list indexes) and its name there."""

    node: tuple
    name: str
    spec: dict

    @property
    def key(self) -> str:
        return ".".join([*map(str, self.node), self.name])


def search_specs(raw: Any, node: tuple = ()) -> list[Spec]:
    """Every dict-valued entry of every `_hopt` block of a composed (raw) config, checked."""
    specs: list[Spec] = []
    if isinstance(raw, dict):
        for key, value in raw.items():
            if key == "_hopt":
                for name, spec in (value or {}).items():
                    if isinstance(spec, dict):
                        specs.append(Spec(node, name, _check_spec(".".join([*map(str, node), name]), spec)))
            else:
                specs += search_specs(value, (*node, key))
    elif isinstance(raw, list):
        for index, item in enumerate(raw):
            specs += search_specs(item, (*node, index))
    return specs


def _check_spec(key: str, spec: dict) -> dict:
    if "values" in spec:
        if not isinstance(spec["values"], list) or not spec["values"]:
            raise ConfigError(f"_hopt spec {key}: values must be a non-empty list")
        return spec
    distribution = spec.get("distribution", "uniform")
    if distribution not in ("uniform", "log_uniform"):
        raise ConfigError(f"_hopt spec {key}: distribution {distribution!r} is not uniform or log_uniform")
    for bound in ("min", "max"):
        if isinstance(spec.get(bound), bool) or not isinstance(spec.get(bound), (int, float)):
            raise ConfigError(f"_hopt spec {key}: needs numeric min and max, got {spec}")
    if spec["min"] > spec["max"]:
        raise ConfigError(f"_hopt spec {key}: min {spec['min']} is above max {spec['max']}")
    return spec


def is_int_spec(spec: dict) -> bool:
    return (spec.get("distribution", "uniform") == "uniform" and "values" not in spec
            and isinstance(spec["min"], int) and isinstance(spec["max"], int))


def inject(raw: dict, values: dict[str, Any], specs: list[Spec]) -> dict:
    """A copy of ``raw`` with each searched key's value set as a `_hopt` constant beside its spec."""
    result = copy.deepcopy(raw)
    for spec in specs:
        if spec.key not in values:
            continue
        node = result
        for part in spec.node:
            node = node[part]
        node["_hopt"][spec.name] = _plain(values[spec.key])
    return result


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    return value


def best_patch(raw: dict, values: dict[str, Any], specs: list[Spec]) -> dict:
    """A config patch (for ``--config``) that sets the searched keys to ``values``, as `_hopt` constants.

    Mappings merge key by key and lists of mappings (``stages``) index by index (`pml_core.config.merge`),
    so the patch names only the searched keys; a stage without searched keys is an empty mapping.
    """
    patch: dict = {}
    for spec in specs:
        if spec.key not in values:
            continue
        node: Any = patch
        for part, following in zip(spec.node, (*spec.node[1:], None)):
            empty = [] if isinstance(following, int) else {}
            if isinstance(part, int):
                node.extend({} for _ in range(part + 1 - len(node)))
                if not node[part] and isinstance(empty, list):
                    node[part] = empty
                node = node[part]
            else:
                node = node.setdefault(part, empty)
        node.setdefault("_hopt", {})[spec.name] = _plain(values[spec.key])
    return patch


def trial_config(raw: dict, values: dict[str, Any], specs: list[Spec], seed: int) -> Config:
    """The validated config of one trial: ``hopt_params`` patch, injected values, the trial's seed."""
    search = merge(raw, raw.get("hopt_params") or {})
    search = inject(search, values, specs)
    search["seed"] = int(seed)
    return parse_config(search)


def trial_seed(base_seed: int, number: int) -> int:
    """The seed of trial ``number``: drawn in [0, 65536], reproducible from the config seed."""
    return int(np.random.default_rng([int(base_seed) % 2**32, int(number), 7]).integers(0, 65537))


# ----------------------------------------------------------------------------------------------
# Bookkeeping shared by the backends


@dataclass
class TrialRecord:
    number: int
    value: float | None
    state: str
    seed: int | None
    params: dict


def write_trials(root: Path, records: list[TrialRecord], specs: list[Spec]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["number", "state", "value", "seed", *[s.key for s in specs]])
    for r in sorted(records, key=lambda r: r.number):
        writer.writerow([r.number, r.state, "" if r.value is None else r.value, "" if r.seed is None else r.seed,
                         *[r.params.get(s.key, "") for s in specs]])
    write_text_atomic(root / "hopt_trials.csv", buffer.getvalue())


def write_best(root: Path, raw: dict, specs: list[Spec], record: TrialRecord, metric: str) -> None:
    header = (f"# Best trial of the search in {root}: trial {record.number}, {metric} = {record.value}\n"
              f"# (trial seed {record.seed}). A config patch: add it with --config after the method's config.\n")
    write_text_atomic(root / "hopt_best.yaml", header + dump_yaml(best_patch(raw, record.params, specs)))


def _objective_fn(raw: dict, root: Path, data_root, *, cval: bool, logger, clean: bool, progress: bool):
    """``(number, values, seed) -> value`` running one trial (train or cval) in ``root/trial-<number>``."""
    from .claim import ClaimHeld
    from .protocols import cross_validate, selection_of, selection_score
    from .run import train_run

    specs = search_specs(raw)

    def objective(number: int, values: dict, seed: int, trial_logger=None) -> float:
        cfg = trial_config(raw, values, specs, seed)
        folder = root / f"trial-{number}"
        dataset, metric, _ = selection_of(cfg)
        clean_folder = clean
        try:
            if cval:
                metrics = cross_validate(cfg, folder, data_root, logger=trial_logger or logger, progress=progress)
            else:
                metrics = train_run(cfg, folder, data_root, logger=trial_logger or logger, progress=progress)
            value = selection_score(metrics, dataset, metric)
        except ClaimHeld:  # another search writes the same trial folders: theirs, not ours to clean
            clean_folder = False
            raise
        except ConfigError:
            raise
        except PMLError as error:  # e.g. a NaN loss at these hyper-parameters: a failed trial
            print(f"trial {number} failed: {error}")
            value = float("nan")
        finally:
            if clean_folder:
                shutil.rmtree(folder, ignore_errors=True)
        return value

    return objective


# ----------------------------------------------------------------------------------------------
# Optuna


def _suggest(trial, spec: Spec):
    s = spec.spec
    if "values" in s:
        choices = s["values"]
        if all(isinstance(v, (int, float, str, bool)) or v is None for v in choices):
            return trial.suggest_categorical(spec.key, choices)
        index = trial.suggest_categorical(spec.key + "#index", list(range(len(choices))))
        return choices[index]
    if s.get("distribution", "uniform") == "log_uniform":
        return trial.suggest_float(spec.key, math.exp(s["min"]), math.exp(s["max"]), log=True)
    if is_int_spec(s):
        return trial.suggest_int(spec.key, s["min"], s["max"])
    return trial.suggest_float(spec.key, float(s["min"]), float(s["max"]))


def run_optuna(raw: dict, root: str | Path, data_root, *, cval: bool = False, num_trials: int | None = None,
               storage: str | None = None, study_name: str | None = None, logger="none", clean: bool = False,
               progress: bool = True, sampler_options: dict | None = None) -> dict:
    """Optuna TPE search; returns ``{"number", "value", "params", "seed"}`` of the best trial.

    ``sampler_options`` go to ``optuna.samplers.TPESampler`` (e.g. ``multivariate``, ``n_startup_trials``,
    ``seed``; by default the sampler is seeded with the config seed unless a shared ``storage`` is used).
    """
    import optuna
    from tqdm.auto import tqdm

    from .protocols import selection_of

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    base = parse_config(merge(raw, raw.get("hopt_params") or {}))
    specs = search_specs(raw)
    if not specs:
        raise ConfigError("the config has no _hopt search specs: nothing to search")
    dataset, metric, minimize = selection_of(base)
    num_trials = base.num_hopt_trials if num_trials is None else num_trials
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    options = {"seed": base.seed if storage is None else None, **(sampler_options or {})}
    sampler = optuna.samplers.TPESampler(**options)
    study = optuna.create_study(storage=storage, study_name=study_name or "pml-hopt", sampler=sampler,
                                direction="minimize" if minimize else "maximize", load_if_exists=True)
    objective = _objective_fn(raw, root, data_root, cval=cval, logger=logger, clean=clean, progress=False)

    def optuna_objective(trial) -> float:
        values = {spec.key: _suggest(trial, spec) for spec in specs}
        seed = trial_seed(base.seed, trial.number)
        trial.set_user_attr("seed", seed)
        trial.set_user_attr("values", {k: _plain(v) for k, v in values.items()})
        return objective(trial.number, values, seed)

    bar = tqdm(total=num_trials, desc="hopt", disable=not progress)

    def record(study, trial) -> None:
        records = [TrialRecord(t.number, t.value, t.state.name, t.user_attrs.get("seed"), t.user_attrs.get("values", {}))
                   for t in study.trials]
        write_trials(root, records, specs)
        done = [r for r in records if r.state == "COMPLETE" and r.value is not None and math.isfinite(r.value)]
        if done:
            best = (min if minimize else max)(done, key=lambda r: r.value)
            write_best(root, raw, specs, best, f"{dataset}/{metric}")
            bar.set_postfix(best=f"{best.value:.4g}")
        bar.update(1)

    study.optimize(optuna_objective, n_trials=num_trials, callbacks=[record], catch=())
    bar.close()
    try:
        best = study.best_trial
    except ValueError:
        raise PMLError("no trial of the search completed with a finite value; see hopt_trials.csv") from None
    return {"number": best.number, "value": best.value, "params": best.user_attrs.get("values", {}),
            "seed": best.user_attrs.get("seed")}


# ----------------------------------------------------------------------------------------------
# wandb sweeps


def sweep_config(raw: dict, method: str) -> dict:
    """The wandb sweep of the reference: every flat config key as a constant plus the searched specs."""
    from ..train.loggers import flatten
    from .protocols import selection_of

    base = parse_config(merge(raw, raw.get("hopt_params") or {}))
    specs = search_specs(raw)
    dataset, metric, minimize = selection_of(base)
    flat = flatten(base.to_dict())
    parameters: dict[str, dict] = {k: {"value": v} for k, v in flat.items() if k != "seed"}
    for spec in specs:
        s = spec.spec
        if "values" in s:
            parameters[spec.key] = {"values": s["values"]}
        elif s.get("distribution", "uniform") == "log_uniform":
            parameters[spec.key] = {"distribution": "log_uniform", "min": s["min"], "max": s["max"]}
        elif is_int_spec(s):
            parameters[spec.key] = {"distribution": "int_uniform", "min": s["min"], "max": s["max"]}
        else:
            parameters[spec.key] = {"distribution": "uniform", "min": float(s["min"]), "max": float(s["max"])}
    sweep = {"method": method, "parameters": parameters,
             "metric": {"name": f"{metric}_epoch/{dataset}", "goal": "minimize" if minimize else "maximize"}}
    patience = base.trainer_params.early_stop_patience
    if patience:
        sweep["early_terminate"] = {"type": "hyperband", "min_iter": patience, "eta": patience}
    return sweep


def run_wandb_sweep(raw: dict, root: str | Path, data_root, *, method: str, project: str, cval: bool = False,
                    num_trials: int | None = None, sweep_id: str | None = None, clean: bool = False,
                    progress: bool = True) -> str:
    """Create (or join, ``sweep_id``) a wandb sweep and run ``num_trials`` trials as its agent."""
    try:
        import wandb
    except ImportError:
        raise ConfigError("wandb sweeps need the wandb package: pip install -e '.[wandb]'") from None
    mode = os.environ.get("WANDB_MODE", "").lower()
    if mode in ("offline", "disabled", "dryrun"):
        raise ConfigError(f"wandb sweeps need a wandb server, but WANDB_MODE={mode}: sweeps cannot run offline. "
                          "Use --backend optuna-tpe (local, optionally with --storage for several machines), "
                          "or log in to wandb and unset WANDB_MODE")
    from ..train.loggers import WandbLogger

    root = Path(root)
    base = parse_config(merge(raw, raw.get("hopt_params") or {}))
    specs = search_specs(raw)
    if not specs:
        raise ConfigError("the config has no _hopt search specs: nothing to search")
    num_trials = base.num_hopt_trials if num_trials is None else num_trials
    try:
        sweep_id = sweep_id or wandb.sweep(sweep_config(raw, method), project=project)
    except Exception as error:
        raise ConfigError(f"could not create a wandb sweep ({error}); sweeps need a reachable wandb server "
                          "and a login. Use --backend optuna-tpe to search locally") from None
    objective = _objective_fn(raw, root, data_root, cval=cval, logger="none", clean=clean, progress=False)
    counter = {"n": 0}
    rng = np.random.default_rng()

    def agent_trial() -> None:
        run = wandb.init(dir=str(root), reinit="create_new")
        values = {spec.key: run.config[spec.key] for spec in specs if spec.key in run.config}
        number = counter["n"]
        counter["n"] += 1
        logger = WandbLogger.from_run(run, aliases=_reference_aliases(base))
        try:
            objective(f"{run.id}" if run.id else number, values, int(rng.integers(0, 65537)), trial_logger=logger)
        finally:
            run.finish()

    wandb.agent(sweep_id, function=agent_trial, count=num_trials, project=project)
    return sweep_id


def _reference_aliases(cfg: Config) -> Callable[[str], str | None]:
    """``valid/mapr`` -> ``mapr_epoch/valid`` (the reference's wandb metric names)."""

    def alias(key: str) -> str | None:
        if "/" not in key:
            return None
        name, metric = key.split("/", 1)
        return f"{metric}_epoch/{name}"

    return alias
