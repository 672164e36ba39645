"""The training loop: stages, epochs, selection, early stopping, checkpoints and exact resume.

A plain PyTorch loop (no framework owns it). One call, `train_run`, trains every stage of a config in
``train_root`` and then tests the selected checkpoint; re-running the same call after a kill resumes
from the last completed epoch and ends with the same metrics as an uninterrupted run (on CPU).

Seeding follows the reference (docs/reference.md §9.4): the global seed of epoch ``e`` (counted over all
stages, from 1) is ``seed + e``; model construction uses ``seed``. The sampler is a function of
(seed, epoch), so the saved epoch is enough to resume the data order; RNG states are saved as well.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ..config import Config, num_stages, stage_config
from ..errors import RunError
from ..utils import announce, resolve_device, rng_state, seed_everything, set_rng_state
from . import checkpoint as ckpt
from . import distributed
from .loggers import Logger
from .optim import SAM, build_optimizer, build_scheduler, clip_gradients


@dataclass
class StageResult:
    stage: int
    best_score: float | None
    best_epoch: int | None
    epochs_run: int
    history: list[dict] = field(default_factory=list)


def _selection_better(score: float, best: float | None, minimize: bool, epsilon: float = 1e-6) -> bool:
    if best is None or (isinstance(best, float) and math.isnan(best)):
        return not math.isnan(score)
    return score < best - epsilon if minimize else score > best + epsilon


def global_epoch_offset(cfg: Config, stage: int) -> int:
    """Epochs of the stages before ``stage`` (for the reference's seed = seed + global epoch)."""
    return sum(stage_config(cfg, s).trainer_params.num_epochs for s in range(stage))


class StageTrainer:
    """Trains one stage of a run. Build it, then call `run()`."""

    def __init__(self, cfg: Config, stage: int, train_root: Path, data_root: Path, *, device: torch.device,
                 logger: Logger, progress: bool = True, datasets=None):
        from ..data import build_datasets
        from ..losses import build_criterion
        from ..model import build_model

        self.root_cfg = cfg
        self.cfg = stage_config(cfg, stage)
        self.stage = stage
        self.train_root = Path(train_root)
        self.dir = ckpt.stage_dir(train_root, stage)
        self.device = distributed.local_device(device)
        device = self.device
        self.rank, self.world_size = distributed.rank(), distributed.world_size()
        self.logger = logger if self.rank == 0 else Logger()
        self.progress = progress and distributed.rank() == 0
        self.epoch_offset = global_epoch_offset(cfg, stage)

        self.datasets = datasets if datasets is not None else build_datasets(self.cfg.dataset_params, data_root)
        train_set = self.datasets.train
        seed_everything(self.cfg.seed)
        self.model = build_model(self.cfg.model_params, num_classes=train_set.num_classes,
                                 priors=getattr(train_set, "priors", None)).to(device)
        self.criterion = build_criterion(self.cfg.criterion_params, self.model)
        self.use_amp = bool(self.cfg.fp16 and device.type == "cuda")
        self.scaler = torch.amp.GradScaler("cuda", init_scale=self.cfg.initial_grad_scale,
                                           growth_interval=self.cfg.grad_scale_growth_interval, enabled=self.use_amp)
        self.start_epoch = 0
        self.best_score: float | None = None
        self.best_epoch: int | None = None
        self.stop_reference: float | None = None  # early stopping: best score by at least early_stop_epsilon
        self.bad_epochs = 0
        self.history: list[dict] = []
        self.completed = False
        from ..evaluate import check_classification_metrics, classification_metric_names

        check_classification_metrics(self.cfg, self.datasets, self.model)
        self.train_metric_names = classification_metric_names(self.cfg, "train", train_set, self.model)
        self.train_metrics = None
        self.resume_state = self._load_resume_state()
        self._prepare_weights()
        self.optimizer = build_optimizer(self.model, self.cfg.trainer_params)
        self.scheduler = build_scheduler(self.optimizer, self.cfg.trainer_params)
        self._resume()
        self.train_model = self.model
        if self.world_size > 1:
            from torch.nn.parallel import DistributedDataParallel

            self.train_model = DistributedDataParallel(
                self.model, device_ids=[device.index] if device.type == "cuda" else None)

    # -- setup ---------------------------------------------------------------------------------

    def _train_loader(self, epoch: int, sharded: bool = True):
        """The loader of ``epoch`` (this rank's shard of the batches under DDP unless ``sharded`` is False)."""
        from ..data import build_train_loader

        shard = dict(rank=self.rank, world_size=self.world_size) if sharded else {}
        return build_train_loader(self.datasets.train, self.cfg.dataset_params, seed=self.cfg.seed,
                                  epoch=self.epoch_offset + epoch, **shard)

    def _load_resume_state(self) -> dict | None:
        """This stage's last.pth, or None to train the stage from its start.

        A stage whose best.pth is gone (deleted as damaged) while the run still needs it (``stage_resume:
        best``, and this is the last stage or the next one has not started) is trained again from its start:
        training is deterministic, so this rebuilds the same best.pth instead of passing other weights off as
        the best epoch's.
        """
        last = self.dir / "last.pth"
        if not last.is_file():
            return None
        state = ckpt.load_checkpoint(last)
        needed = self.root_cfg.stage_resume == "best" and (
            self.stage == num_stages(self.root_cfg) - 1
            or not (ckpt.stage_dir(self.train_root, self.stage + 1) / "last.pth").is_file())
        if needed and state["best_epoch"] is not None and not (self.dir / "best.pth").is_file():
            if self.rank == 0:
                warnings.warn(f"{self.dir / 'best.pth'} is missing (the best epoch was {state['best_epoch']}): "
                              f"stage {self.stage} is trained again from its start to rebuild it", stacklevel=2)
            return None
        return state

    def _prepare_weights(self) -> None:
        """Stage 0: run the initialiser. Later stages: load the previous stage's checkpoint."""
        if self.resume_state is not None:
            return  # resuming this stage: its own checkpoint holds the weights
        if self.stage == 0:
            from ..initializer import initialize_model

            seed_everything(self.cfg.seed)
            batches = (batch for batch in self._train_loader(0, sharded=False))  # same statistics on every rank
            initialize_model(self.model, self.cfg.initializer_params, batches)
            return
        previous = ckpt.stage_dir(self.train_root, self.stage - 1) / f"{self.root_cfg.stage_resume}.pth"
        ckpt.load_model_state(self.model, ckpt.load_model_weights(previous), self.cfg.resume_prefixes)

    def _resume(self) -> None:
        state, self.resume_state = self.resume_state, None
        if state is None:
            return
        ckpt.load_model_state(self.model, state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.start_epoch = state["epoch"]
        self.best_score, self.best_epoch = state["best_score"], state["best_epoch"]
        self.stop_reference, self.bad_epochs = state["stop_reference"], state["bad_epochs"]
        self.history = state["history"]
        self.completed = state["completed"]
        set_rng_state(state["rng"])
        if self.rank == 0:
            last = self.dir / "last.pth"
            announce(f"reusing the complete stage {self.stage} in {last}" if self.completed
                     else f"resuming stage {self.stage} at epoch {self.start_epoch + 1} from {last}")

    # -- epochs --------------------------------------------------------------------------------

    def _step(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, dict, torch.Tensor]:
        """One optimisation step; returns (loss, loss terms, gradient norm as a 0-dim tensor)."""
        def compute():
            with torch.autocast(self.device.type, enabled=self.use_amp):
                output = self.train_model(images, labels)
            return output, *self.criterion(output, labels)

        self.optimizer.zero_grad(set_to_none=True)
        output, loss, terms = compute()
        self._update_train_metrics(output, labels)
        if not torch.isfinite(loss):
            return loss, terms, torch.full((), float("nan"))
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.optimizer)
        grad_norm = clip_gradients(self.model.parameters(), self.cfg.trainer_params.gradient_clipping, as_tensor=True)
        if isinstance(self.optimizer, SAM):
            def closure():
                self.optimizer.zero_grad(set_to_none=True)
                _, again, _ = compute()
                again.backward()
                clip_gradients(self.model.parameters(), self.cfg.trainer_params.gradient_clipping)
                return again

            self.optimizer.step(closure)
        else:
            self.scaler.step(self.optimizer)
        self.scaler.update()
        return loss, terms, grad_norm

    def _update_train_metrics(self, output, labels: torch.Tensor) -> None:
        """Accumulate `train_classification_metrics` on a training batch (logits with margins, as the reference)."""
        if self.train_metrics is None:
            return
        positive = None
        if self.train_metrics.scores:
            from ..evaluate import class_targets

            positive = self.model.score(output.params.detach(), class_targets(self.model)[labels].detach())
        self.train_metrics.update(labels, logits=output.logits, positive_scores=positive)

    def train_epoch(self, epoch: int) -> dict:
        self.model.train()
        self.train_metrics = None
        if self.train_metric_names:
            from ..metrics.classification import ClassificationAccumulator

            self.train_metrics = ClassificationAccumulator("accuracy" in self.train_metric_names,
                                                           "scores" in self.train_metric_names)
        loader = self._train_loader(epoch)
        limit = self.cfg.trainer_params.max_steps_per_epoch
        total = min(len(loader), limit) if limit else len(loader)
        sums: dict[str, torch.Tensor] = {}
        loss_sum = torch.zeros((), device=self.device)
        grad_norm_sum = torch.zeros((), device=self.device)  # tensors: no host sync per step
        steps = 0
        bar = tqdm(loader, total=total, desc=f"stage {self.stage} epoch {epoch + 1}", leave=False,
                   disable=not self.progress)
        for step, (images, labels) in enumerate(bar):
            if limit and step >= limit:
                break
            images = images.to(self.device, non_blocking=True)
            labels = labels.to(self.device, non_blocking=True)
            loss, terms, grad_norm = self._step(images, labels)
            if not torch.isfinite(loss):
                raise RunError(f"loss became {float(loss.detach())} at stage {self.stage}, epoch {epoch + 1}, step {step + 1} "
                               f"(terms: {', '.join(f'{k}={float(v):.4g}' for k, v in terms.items())}); "
                               f"{self._nan_advice()}")
            loss_sum += loss.detach()
            for key, value in terms.items():
                sums[key] = sums.get(key, 0.0) + value
            grad_norm_sum += grad_norm.to(grad_norm_sum.device)
            steps += 1
            if self.progress and step % 10 == 0:
                bar.set_postfix(loss=f"{float(loss.detach()):.4f}")
        bar.close()
        if steps == 0:
            raise RunError(f"stage {self.stage}: the train loader yielded no batch (dataset smaller than batch_size?)")
        stats = {"loss": float(loss_sum) / steps}
        stats.update({key: float(value) / steps for key, value in sums.items()})
        stats["grad_norm"] = float(grad_norm_sum) / steps
        if self.train_metrics is not None:
            stats.update(self.train_metrics.compute())
        return distributed.mean_over_ranks(stats, self.device)

    def _nan_advice(self) -> str:
        clipping = self.cfg.trainer_params.gradient_clipping
        if clipping:
            return (f"lower trainer_params.optimizer_params.lr (gradient clipping at {clipping:g} is on; a lower "
                    f"trainer_params.gradient_clipping may help too)")
        return "lower trainer_params.optimizer_params.lr or enable trainer_params.gradient_clipping (e.g. 5)"

    def validate(self) -> dict[str, dict[str, float]]:
        from ..evaluate import evaluate_model

        valid_sets = dict(self.datasets.valid)
        if self.cfg.dataset_params.validate_on_test:
            valid_sets.update(self.datasets.tests)
        if not valid_sets:
            return {}
        metrics = None
        if self.rank == 0:  # under DDP: rank 0 evaluates, every rank gets its metrics
            metrics, _ = evaluate_model(self.model, valid_sets, self.cfg, self.device, progress=self.progress)
        return distributed.broadcast(metrics)

    def _selection_score(self, train_stats: dict, valid: dict) -> float:
        tp = self.cfg.trainer_params
        source = {"train": train_stats}
        source.update(valid)
        if tp.selection_dataset not in source:
            raise RunError(f"selection_dataset {tp.selection_dataset!r} is not among the evaluated sets "
                           f"{sorted(source)}; set dataset_params.validation_fold to get 'valid'")
        if tp.selection_metric not in source[tp.selection_dataset]:
            raise RunError(f"selection_metric {tp.selection_metric!r} was not computed on {tp.selection_dataset!r} "
                           f"(available: {sorted(source[tp.selection_dataset])})")
        value = source[tp.selection_dataset][tp.selection_metric]
        return float("nan") if value is None else float(value)

    def _save(self, epoch: int) -> None:
        if self.rank != 0:
            distributed.barrier()  # rank 0 writes; the others wait until the file is complete
            return
        state = dict(model=self.model.state_dict(), optimizer=self.optimizer.state_dict(),
                     scheduler=self.scheduler.state_dict(), scaler=self.scaler.state_dict(), epoch=epoch,
                     best_score=self.best_score, best_epoch=self.best_epoch,
                     stop_reference=self.stop_reference, bad_epochs=self.bad_epochs,
                     history=self.history, completed=self.completed, rng=rng_state(), stage=self.stage)
        ckpt.save_checkpoint(self.dir / "last.pth", **state)
        distributed.barrier()

    def run(self) -> StageResult:
        tp = self.cfg.trainer_params
        epochs = range(self.start_epoch, tp.num_epochs)
        for epoch in tqdm(epochs, desc=f"stage {self.stage}", disable=not self.progress or self.completed):
            if self.completed:
                break
            started = time.perf_counter()
            seed_everything(self.cfg.seed + self.epoch_offset + epoch + 1)
            train_stats = self.train_epoch(epoch)
            valid = self.validate()
            score = self._selection_score(train_stats, valid)
            improved = _selection_better(score, self.best_score, tp.selection_minimize)
            if improved:
                self.best_score, self.best_epoch = score, epoch + 1
                if self.rank == 0:
                    ckpt.save_checkpoint(self.dir / "best.pth", model=self.model.state_dict(), epoch=epoch + 1,
                                         score=score, stage=self.stage)
            if _selection_better(score, self.stop_reference, tp.selection_minimize, tp.early_stop_epsilon):
                self.stop_reference, self.bad_epochs = score, 0
            else:
                self.bad_epochs += 1
            self.scheduler.step(score)
            row = {"stage": self.stage, "epoch": epoch + 1,
                   "lr": self.optimizer.param_groups[0]["lr"], "seconds": time.perf_counter() - started}
            row.update({f"train/{k}": v for k, v in train_stats.items()})
            row.update({f"{name}/{k}": v for name, values in valid.items() for k, v in values.items()
                        if not k.startswith("filter-out/")})
            self.history.append(row)
            self.logger.log_metrics({k: v for k, v in row.items() if k not in ("stage", "epoch")},
                                    step=self.epoch_offset + epoch + 1)
            stop = tp.early_stop_patience is not None and self.bad_epochs >= tp.early_stop_patience
            self.completed = stop or epoch + 1 == tp.num_epochs
            self._save(epoch + 1)
            if stop:
                break
        if not (self.dir / "best.pth").is_file() and self.rank == 0:
            if tp.num_epochs == 0:  # no epoch configured: the starting weights are the stage's result
                ckpt.save_checkpoint(self.dir / "best.pth", model=self.model.state_dict(), epoch=0, score=None,
                                     stage=self.stage)
            elif self.best_epoch is None and self.root_cfg.stage_resume == "best":
                raise RunError(f"stage {self.stage}: no epoch gave a finite {tp.selection_dataset}/"
                               f"{tp.selection_metric}, so there is no best checkpoint to select; choose another "
                               f"trainer_params.selection_metric, or set stage_resume: last")
        if not self.completed:
            self.completed = True
            self._save(self.start_epoch)
        distributed.barrier()
        return StageResult(self.stage, self.best_score, self.best_epoch, len(self.history), self.history)


def train_stages(cfg: Config, train_root: str | Path, data_root: str | Path, *, logger: Logger | None = None,
                 progress: bool = True, from_stage: int = 0) -> list[StageResult]:
    """Train every stage (from ``from_stage``), resuming what a previous attempt left.

    Under torchrun (WORLD_SIZE > 1) it joins the process group when nobody did (`train_run` does).
    """
    created = distributed.init_from_env(cfg.device)
    try:
        device = resolve_device(cfg.device)
        logger = logger or Logger()
        results = []
        datasets_cache: dict[str, object] = {}
        for stage in range(from_stage, num_stages(cfg)):
            stage_cfg = stage_config(cfg, stage)
            key = repr(stage_cfg.dataset_params)
            trainer = StageTrainer(cfg, stage, Path(train_root), Path(data_root), device=device, logger=logger,
                                   progress=progress, datasets=datasets_cache.get(key))
            datasets_cache[key] = trainer.datasets
            results.append(trainer.run())
        return results
    finally:
        distributed.shutdown(created)
