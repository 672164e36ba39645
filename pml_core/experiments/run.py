"""One run end to end: config -> stages -> test -> run store (docs/design.md, "Stable contracts")."""

from __future__ import annotations

import platform
import time
import traceback
from pathlib import Path

import torch

from ..config import Config, dump_yaml, num_stages, resolved_config, stage_config
from ..errors import PMLError, RunError
from ..reproducibility import current_settings
from ..train import checkpoint as ckpt
from ..train import distributed
from ..train.loggers import Logger, create_logger
from ..train.loop import train_stages
from ..utils import (announce, config_hash, git_commit, package_versions, resolve_device, seed_everything,
                     sweep_stale_tmp)
from . import claim, runstore


#: Keys that do not make a run another run: the same run may resume or be reused on another device, and
#: the protocol counts (how many seeds or trials a protocol runs) say nothing of one run.
IDENTITY_EXEMPT = ("device", "num_evaluation_seeds", "num_hopt_trials", "hopt_backend")


def run_identity(cfg: Config) -> dict:
    """What makes a run this run: every stage's effective config, completed by the defaults, flattened
    (``stage-<i>.<key>``; plain keys for a single-stage config), without `IDENTITY_EXEMPT`. Equal for a config
    and the config.yaml it writes."""
    from ..config import resolved_dict
    from ..train.loggers import flatten

    count = num_stages(cfg)
    identity = {}
    for index in range(count):
        prefix = f"stage-{index}." if count > 1 else ""
        for key, value in flatten(resolved_dict(stage_config(cfg, index, check_components=False))).items():
            if key.split(".")[0] not in (*IDENTITY_EXEMPT, "stages"):
                identity[prefix + key] = value
    return identity


def check_same_config(train_root: Path, cfg: Config) -> None:
    """Refuse a folder that holds a run (checkpoints or metrics) of another config.

    A folder with a config.yaml but no checkpoint yet (an attempt that failed before training, e.g. on a
    config error) holds nothing to protect: the new config replaces it.
    """
    existing = train_root / "config.yaml"
    if not existing.is_file() or not runstore.holds_a_run(train_root):
        return
    differences = _config_differences(existing, cfg)
    if differences:
        raise RunError(f"{train_root} already holds a run of another config ({differences}; see its config.yaml); "
                       "use another --train-root, or delete the folder to start over")


def _config_differences(existing: Path, cfg: Config, limit: int = 3) -> str:
    """How the run's config.yaml differs from ``cfg`` ("" when it is the same run), by `run_identity`."""
    from ..config import parse_config, parse_yaml
    from ..errors import ConfigError

    try:
        old = run_identity(parse_config(parse_yaml(existing.read_text(), str(existing)), check_components=False))
    except (OSError, ConfigError) as error:
        return f"its config.yaml is not a config of this kit: {error}"
    new = run_identity(cfg)
    changed = [key for key in sorted(set(old) | set(new)) if old.get(key) != new.get(key)]
    shown = ", ".join(f"{key}: {old.get(key)!r} there, {new.get(key)!r} here" for key in changed[:limit])
    return shown + (f" and {len(changed) - limit} more" if len(changed) > limit else "")


def test_checkpoint(cfg: Config, checkpoint: str | Path | None, data_root: str | Path, *, progress: bool = True,
                    datasets=None) -> tuple[dict, dict]:
    """Metrics and predictions of a checkpoint on the validation and test sets (last stage's config)."""
    from ..data import build_datasets
    from ..evaluate import evaluate_model
    from ..model import build_model

    last = stage_config(cfg, num_stages(cfg) - 1)
    device = resolve_device(cfg.device)
    # None: the freshly initialised model (an untrained baseline). Read first: a bad file fails at once.
    weights = ckpt.load_model_weights(checkpoint) if checkpoint is not None else None
    datasets = datasets or build_datasets(last.dataset_params, data_root)
    seed_everything(last.seed)
    model = build_model(last.model_params, num_classes=datasets.train.num_classes,
                        priors=getattr(datasets.train, "priors", None)).to(device)
    if weights is not None:
        ckpt.load_model_state(model, weights)
    sets = {**datasets.valid, **datasets.tests}
    return evaluate_model(model, sets, last, device, progress=progress, keep_predictions=True)


def train_run(cfg: Config, train_root: str | Path, data_root: str | Path, *, logger: str | Logger | None = "tensorboard",
              progress: bool = True, from_stage: int = 0, wait: bool | float = False) -> dict:
    """Train all stages in ``train_root``, test the selected checkpoint, fill the run store.

    A complete run (metrics.json present) is returned as it is; an interrupted one resumes. The run
    holds a claim on ``train_root`` (`pml_core.experiments.claim`) from its first write to its last:
    when another process holds it, ``wait=False`` fails with `claim.ClaimHeld` naming the holder,
    ``wait=True`` (or a number of seconds) waits for it. Under ``torchrun`` (WORLD_SIZE > 1) every rank
    trains its shard with DDP; rank 0 alone claims the folder, evaluates, tests and writes the run store,
    the others wait for it and return the same metrics.
    """
    resolve_device(cfg.device)  # an unusable device fails before the run folder is touched
    created = distributed.init_from_env(cfg.device)
    try:
        if distributed.rank() != 0:
            return _follow_run(cfg, Path(train_root), data_root, from_stage)
        result = _claim_and_train(cfg, Path(train_root), data_root, wait=wait, logger=logger, progress=progress,
                                  from_stage=from_stage)
        distributed.broadcast(True)  # releases the other ranks (after the run store is complete)
        return result
    finally:  # a failing rank ends the process; torchrun then stops the others
        distributed.shutdown(created)


def _follow_run(cfg: Config, train_root: Path, data_root, from_stage: int) -> dict:
    """A non-zero rank: train the shards (rank 0 checks the folder and writes everything), then wait."""
    ready = distributed.broadcast(None)  # rank 0 checked the folder
    if ready == "complete":
        return runstore.read_metrics(train_root)
    if ready != "train":
        raise RunError(f"rank 0 could not start the run in {train_root}")
    train_stages(cfg, train_root, data_root, logger=Logger(), progress=False, from_stage=from_stage)
    if not distributed.broadcast(None):
        raise RunError(f"rank 0 failed to test or store the run in {train_root}")
    return runstore.read_metrics(train_root)


def _claim_and_train(cfg: Config, train_root: Path, data_root, *, wait: bool | float, **kwargs) -> dict:
    """`_train_run_main` under a claim on ``train_root`` (a complete run is read without one: its folder may be
    read-only). After waiting for another holder, a run it completed with another config is refused."""
    if runstore.is_complete(train_root):
        return _train_run_main(cfg, train_root, data_root, **kwargs)
    try:
        held = claim.acquire(train_root, wait=wait)
    except RunError:
        distributed.broadcast("refused")
        raise
    with held:  # a run the holder we waited for completed is checked for its config in _train_run_main
        return _train_run_main(cfg, train_root, data_root, **kwargs)


def _train_run_main(cfg: Config, train_root: Path, data_root, *, logger, progress: bool, from_stage: int) -> dict:
    try:
        check_same_config(train_root, cfg)  # first: a complete run is reused for its own config only
        complete = runstore.read_metrics(train_root) if runstore.is_complete(train_root) else None
    except RunError:
        distributed.broadcast("refused")
        raise
    if complete is not None:
        announce(f"reusing the complete run in {train_root}")
        distributed.broadcast("complete")
        return complete
    train_root.mkdir(parents=True, exist_ok=True)
    sweep_stale_tmp(train_root)  # what a kill mid-write left
    distributed.broadcast("train")
    claim.record_attempt(train_root)
    resolved = resolved_config(cfg)
    runstore.write_config(train_root, dump_yaml(resolved))
    own_logger = not isinstance(logger, Logger)
    logger = create_logger(logger, train_root) if own_logger else logger
    started = time.perf_counter()
    try:
        logger.log_config(resolved)
        results = train_stages(cfg, train_root, data_root, logger=logger, progress=progress, from_stage=from_stage)
        last_stage = num_stages(cfg) - 1
        chosen = ckpt.stage_dir(train_root, last_stage) / f"{cfg.stage_resume}.pth"
        metrics, predictions = test_checkpoint(cfg, chosen, data_root, progress=progress)
        history = [row for result in results for row in result.history]
        metrics["selection"] = {"score": results[-1].best_score if results else None,
                                "epoch": results[-1].best_epoch if results else None,
                                "epochs_run": len(history),
                                "minimize": stage_config(cfg, last_stage).trainer_params.selection_minimize}
        flat = {f"{name}/{key}": value for name, values in metrics.items() for key, value in values.items()
                if isinstance(value, (int, float)) and not isinstance(value, bool)
                and not key.startswith("filter-out/")}
        logger.log_hparams(_flat_hparams(resolved), flat)
    except PMLError as error:  # a kit error (config, data, run): failed.json says why
        runstore.mark_failed(train_root, str(error), error=type(error).__name__)
        raise
    except Exception as error:  # a bug: failed.json keeps the traceback too
        runstore.mark_failed(train_root, f"{type(error).__name__}: {error}", traceback=traceback.format_exc())
        raise
    finally:
        if own_logger:
            logger.close()
    runstore.write_history(train_root, history)
    runstore.write_predictions(train_root, predictions)
    runstore.write_provenance(train_root, {
        "git_commit": git_commit(), "versions": package_versions(), "python": platform.python_version(),
        "device": str(resolve_device(cfg.device)), "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        "wall_seconds": time.perf_counter() - started, "config_hash": config_hash(resolved), "platform": platform.platform(),
        "world_size": distributed.world_size(), "cpu_kernels": current_settings(),
    })
    runstore.write_metrics(train_root, metrics)
    return runstore.read_metrics(train_root)


def _flat_hparams(config: dict) -> dict:
    from ..train.loggers import flatten

    return {k: v for k, v in flatten(config).items() if isinstance(v, (int, float, str, bool))}
