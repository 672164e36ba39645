"""Optimisers, parameter groups and learning-rate schedules (docs/reference.md §9.4)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn

from ..config import TrainerParams, check_params
from ..registry import lookup


@dataclass(frozen=True)
class Component:
    """A registry entry: a constructor and the defaults its params are checked against."""

    build: Callable[..., Any]
    DEFAULTS: dict


class SAM(torch.optim.Optimizer):
    """Sharpness-aware minimisation (Foret et al. 2021; adaptive variant of Kwon et al. 2021).

    ``step(closure)`` needs a closure that recomputes the loss and its gradients: the first gradient
    (already in ``.grad``) gives the ascent direction, the closure the gradient at the perturbed point.
    """

    def __init__(self, params, base_type: str = "sgd", base_params: dict | None = None, rho: float = 0.5,
                 adaptive: bool = True, adaptive_bias_and_bn: bool = False, **group_defaults):
        params = list(params)
        if params and not isinstance(params[0], dict):
            params = [{"params": params}]
        groups = []
        for group in params:
            if adaptive and not adaptive_bias_and_bn:
                high = [p for p in group["params"] if p.dim() >= 2]
                low = [p for p in group["params"] if p.dim() < 2]
                groups += [{**group, "params": high}, {**group, "params": low, "adaptive": False}]
            else:
                groups.append(group)
        groups = [g for g in groups if g["params"]]
        super().__init__(groups, dict(rho=rho, adaptive=adaptive, **group_defaults))
        base = OPTIMIZERS[base_type]
        self.base_optimizer = base.build(self.param_groups, **check_params("optimizer", base_type, {**group_defaults, **(base_params or {})}, base.DEFAULTS, "base_params"))
        self.param_groups = self.base_optimizer.param_groups

    @torch.no_grad()
    def step(self, closure=None):
        if closure is None:
            raise RuntimeError("SAM needs a closure that recomputes the loss and gradients")
        grads = [p.grad for g in self.param_groups for p in g["params"] if p.grad is not None]
        if not grads:
            return None
        norm = torch.norm(torch.stack([
            ((p.abs() if g["adaptive"] else 1.0) * p.grad).norm(2)
            for g in self.param_groups for p in g["params"] if p.grad is not None]), 2)
        for group in self.param_groups:
            scale = group["rho"] / (norm + 1e-12)
            for p in group["params"]:
                if p.grad is None:
                    continue
                e = (torch.pow(p, 2) if group["adaptive"] else 1.0) * p.grad * scale
                p.add_(e)
                self.state[p]["e"] = e
        with torch.enable_grad():
            loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if "e" in self.state[p]:
                    p.sub_(self.state[p].pop("e"))
        self.base_optimizer.step()
        return loss


OPTIMIZERS: dict[str, Component] = {
    "sgd": Component(torch.optim.SGD, {"lr": 0.1, "momentum": 0.9, "weight_decay": 5e-4}),
    "rmsprop": Component(torch.optim.RMSprop, {"lr": 0.1, "momentum": 0.9, "weight_decay": 5e-4}),
    "adam": Component(torch.optim.Adam, {"lr": 0.1, "weight_decay": 5e-4}),
    "adamw": Component(torch.optim.AdamW, {"lr": 0.1, "weight_decay": 5e-4}),
    "sam": Component(SAM, {"lr": 0.1, "momentum": 0.9, "weight_decay": 5e-4, "rho": 0.5, "adaptive": True,
                           "base_type": "sgd", "base_params": None, "adaptive_bias_and_bn": False}),
}


def parameter_groups(model: nn.Module, trainer: TrainerParams) -> list[dict]:
    """Trainable embedder params with ``optimizer_params``; classifier and scorer params with
    ``optimizer_params`` overridden key by key by ``classifier_optimizer_params``."""
    entry = lookup("optimizer", OPTIMIZERS, trainer.optimizer_type)
    base = check_params("optimizer", trainer.optimizer_type, trainer.optimizer_params, entry.DEFAULTS,
                        "trainer_params.optimizer_params")
    head = check_params("optimizer", trainer.optimizer_type, trainer.classifier_optimizer_params, base,
                        "trainer_params.classifier_optimizer_params")
    embedder, classifier = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        (classifier if name.startswith(("_classifier.", "_scorer.")) else embedder).append(param)
    groups = []
    if embedder:
        groups.append({"params": embedder, "name": "embedder", **_group_options(base)})
    if classifier:
        groups.append({"params": classifier, "name": "classifier", **_group_options(head)})
    return groups


def _group_options(params: dict) -> dict:
    return {k: v for k, v in params.items() if k not in ("base_type", "base_params", "adaptive_bias_and_bn")}


def build_optimizer(model: nn.Module, trainer: TrainerParams) -> torch.optim.Optimizer:
    groups = parameter_groups(model, trainer)
    if not groups:
        raise ValueError("the model has no trainable parameters in this stage")
    entry = lookup("optimizer", OPTIMIZERS, trainer.optimizer_type)
    if trainer.optimizer_type == "sam":
        options = check_params("optimizer", "sam", trainer.optimizer_params, entry.DEFAULTS, "trainer_params.optimizer_params")
        extra = {k: options[k] for k in ("base_type", "base_params", "adaptive_bias_and_bn")}
        for group in groups:
            for key in ("rho", "adaptive"):
                group.pop(key, None)
        return SAM(groups, rho=options["rho"], adaptive=options["adaptive"], **extra)
    return entry.build(groups)


class WarmupScheduler:
    """Learning rate 0 during ``warmup_epochs`` epochs, then the wrapped schedule (stepped per epoch)."""

    def __init__(self, optimizer: torch.optim.Optimizer, scheduler: Any, warmup_epochs: int):
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.warmup_epochs = warmup_epochs
        self.epoch = 0
        self.base_lrs = [group["lr"] for group in optimizer.param_groups]
        self._apply_warmup()

    def _apply_warmup(self) -> None:
        if self.epoch < self.warmup_epochs:
            for group in self.optimizer.param_groups:
                group["lr"] = 0.0
        elif self.epoch == self.warmup_epochs:
            for group, lr in zip(self.optimizer.param_groups, self.base_lrs):
                group["lr"] = lr

    def step(self, metric: float | None = None) -> None:
        past_warmup = self.epoch >= self.warmup_epochs
        self.epoch += 1
        if past_warmup and self.scheduler is not None:
            if isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                self.scheduler.step(metric)
            else:
                self.scheduler.step()
        self._apply_warmup()

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "base_lrs": self.base_lrs,
                "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None}

    def load_state_dict(self, state: dict) -> None:
        self.epoch = state["epoch"]
        self.base_lrs = state["base_lrs"]
        if self.scheduler is not None and state["scheduler"] is not None:
            self.scheduler.load_state_dict(state["scheduler"])


def _exponential(optimizer, num_epochs: int, lr_at_last_epoch: float):
    lr0 = optimizer.param_groups[0]["lr"]
    gamma = (lr_at_last_epoch / lr0) ** (1.0 / max(num_epochs, 1)) if lr0 > 0 else 1.0
    return torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=gamma)


SCHEDULERS: dict[str, Component] = {
    "step": Component(lambda opt, tp, step, gamma: torch.optim.lr_scheduler.StepLR(opt, step_size=step, gamma=gamma),
                      {"step": 10, "gamma": 0.1}),
    "multistep": Component(lambda opt, tp, milestones, gamma: torch.optim.lr_scheduler.MultiStepLR(opt, milestones, gamma),
                           {"milestones": [9, 14], "gamma": 0.1}),
    "plateau": Component(lambda opt, tp, patience, factor: torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt, mode="min" if tp.selection_minimize else "max", patience=patience, factor=factor),
        {"patience": 10, "factor": 0.1}),
    "exponential": Component(lambda opt, tp, lr_at_last_epoch: _exponential(opt, tp.num_epochs, lr_at_last_epoch),
                             {"lr_at_last_epoch": 1e-4}),
}


def build_scheduler(optimizer: torch.optim.Optimizer, trainer: TrainerParams) -> WarmupScheduler:
    scheduler = None
    if trainer.scheduler_type is not None:
        entry = lookup("scheduler", SCHEDULERS, trainer.scheduler_type)
        params = check_params("scheduler", trainer.scheduler_type, trainer.scheduler_params, entry.DEFAULTS,
                              "trainer_params.scheduler_params")
        scheduler = entry.build(optimizer, trainer, **params)
    return WarmupScheduler(optimizer, scheduler, trainer.warmup_epochs)


def clip_gradients(parameters, max_norm: float | None, *, as_tensor: bool = False):
    """Clip the global L2 norm to ``max_norm`` (None: no clipping); return the norm before clipping.

    ``as_tensor``: the norm as a 0-dim tensor on the gradients' device (no host sync), NaN when not finite.
    """
    parameters = [p for p in parameters if p.grad is not None]
    if not parameters:
        return torch.zeros(()) if as_tensor else 0.0
    if max_norm is None:
        norm = torch.linalg.vector_norm(torch.stack([p.grad.detach().norm(2) for p in parameters]), 2)
    else:
        norm = torch.nn.utils.clip_grad_norm_(parameters, max_norm)
    norm = torch.where(torch.isfinite(norm), norm, torch.full_like(norm, float("nan")))
    return norm.detach() if as_tensor else float(norm)
