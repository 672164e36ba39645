"""One run end to end: config -> stages -> test -> run store (DESIGN.md, "Stable contracts")."""

from __future__ import annotations

import platform
import time
from pathlib import Path

import torch

from ..config import Config, dump_yaml, num_stages, stage_config
from ..errors import RunError
from ..reproducibility import current_settings
from ..train import checkpoint as ckpt
from ..train import distributed
from ..train.loggers import Logger, create_logger
from ..train.loop import train_stages
from ..utils import config_hash, git_commit, package_versions, resolve_device, seed_everything
from . import runstore


def _check_same_config(train_root: Path, cfg: Config) -> None:
    existing = train_root / "config.yaml"
    text = dump_yaml(cfg.to_dict())
    if existing.is_file() and existing.read_text() != text:
        raise RunError(f"{train_root} already holds a run of another config (see its config.yaml); "
                       "use another --train-root, or delete the folder to start over")


def test_checkpoint(cfg: Config, checkpoint: str | Path | None, data_root: str | Path, *, progress: bool = True,
                    datasets=None) -> tuple[dict, dict]:
    """Metrics and predictions of a checkpoint on the validation and test sets (last stage's config)."""
    from ..data import build_datasets
    from ..evaluate import evaluate_model
    from ..model import build_model

    last = stage_config(cfg, num_stages(cfg) - 1)
    device = resolve_device(cfg.device)
    datasets = datasets or build_datasets(last.dataset_params, data_root)
    seed_everything(last.seed)
    model = build_model(last.model_params, num_classes=datasets.train.num_classes,
                        priors=getattr(datasets.train, "priors", None)).to(device)
    if checkpoint is not None:  # None: the freshly initialised model (an untrained baseline)
        ckpt.load_model_state(model, ckpt.load_checkpoint(checkpoint)["model"])
    sets = {**datasets.valid, **datasets.tests}
    return evaluate_model(model, sets, last, device, progress=progress, keep_predictions=True)


def train_run(cfg: Config, train_root: str | Path, data_root: str | Path, *, logger: str | Logger | None = "tensorboard",
              progress: bool = True, from_stage: int = 0) -> dict:
    """Train all stages in ``train_root``, test the selected checkpoint, fill the run store.

    A complete run (metrics.json present) is returned as it is; an interrupted one resumes. Under
    ``torchrun`` (WORLD_SIZE > 1) every rank trains its shard with DDP; rank 0 alone evaluates, tests
    and writes the run store, the others wait for it and return the same metrics.
    """
    created = distributed.init_from_env(cfg.device)
    try:
        if distributed.rank() != 0:
            return _follow_run(cfg, Path(train_root), data_root, from_stage)
        result = _train_run_main(cfg, Path(train_root), data_root, logger=logger, progress=progress,
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


def _train_run_main(cfg: Config, train_root: Path, data_root, *, logger, progress: bool, from_stage: int) -> dict:
    if runstore.is_complete(train_root):
        distributed.broadcast("complete")
        return runstore.read_metrics(train_root)
    train_root.mkdir(parents=True, exist_ok=True)
    try:
        _check_same_config(train_root, cfg)
    except RunError:
        distributed.broadcast("refused")
        raise
    distributed.broadcast("train")
    resolved = cfg.to_dict()
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
    except RunError as error:
        runstore.mark_failed(train_root, str(error))
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
