"""Optimisers, parameter groups and learning-rate schedules against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from pml_core.config import TrainerParams
from pml_core.train.optim import SAM, build_optimizer, build_scheduler, parameter_groups

pytestmark = pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step\\(\\)` before")


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self._embedder = nn.Linear(3, 2)
        self._classifier = nn.Linear(2, 4, bias=False)


def _trainer(**kwargs) -> TrainerParams:
    kwargs.setdefault("optimizer_params", {"lr": 1.0})
    return TrainerParams(**kwargs)


def _lrs(trainer: TrainerParams, epochs: int, scores=None) -> list[float]:
    optimizer = build_optimizer(Tiny(), trainer)
    scheduler = build_scheduler(optimizer, trainer)
    lrs = []
    for epoch in range(epochs):
        lrs.append(optimizer.param_groups[0]["lr"])
        scheduler.step(None if scores is None else scores[epoch])
    return lrs


@pytest.mark.parametrize("kind, params, num_epochs, expected", [
    ("step", {"step": 2, "gamma": 0.5}, 6, [1, 1, 0.5, 0.5, 0.25, 0.25]),
    ("multistep", {"milestones": [2, 4], "gamma": 0.1}, 6, [1, 1, 0.1, 0.1, 0.01, 0.01]),
    ("exponential", {"lr_at_last_epoch": 1e-4}, 4, [1, 0.1, 0.01, 0.001]),  # gamma = (1e-4 / 1)^(1/4)
])
def test_schedules(kind, params, num_epochs, expected):
    trainer = _trainer(scheduler_type=kind, scheduler_params=params, num_epochs=num_epochs)
    assert _lrs(trainer, num_epochs) == pytest.approx(expected)


def test_plateau_follows_the_selection_direction():
    minimize = _trainer(scheduler_type="plateau", scheduler_params={"patience": 1, "factor": 0.5})
    # best 1.0 at epoch 1; two epochs without improvement (> patience 1) halve the lr, and again
    assert _lrs(minimize, 6, [1.0, 1.0, 1.0, 1.0, 1.0, 1.0]) == pytest.approx([1, 1, 1, 0.5, 0.5, 0.25])
    maximize = _trainer(scheduler_type="plateau", scheduler_params={"patience": 1, "factor": 0.5},
                        selection_minimize=False)
    assert _lrs(maximize, 5, [1.0, 2.0, 3.0, 4.0, 5.0]) == pytest.approx([1] * 5)  # always improving
    assert _lrs(minimize, 5, [1.0, 2.0, 3.0, 4.0, 5.0]) == pytest.approx([1, 1, 1, 0.5, 0.5])


def test_warmup_gives_zero_then_the_wrapped_schedule():
    trainer = _trainer(scheduler_type="step", scheduler_params={"step": 1, "gamma": 0.5}, warmup_epochs=2)
    assert _lrs(trainer, 5) == pytest.approx([0, 0, 1, 0.5, 0.25])
    assert _lrs(_trainer(warmup_epochs=1), 3) == pytest.approx([0, 1, 1])


def test_warmup_scheduler_state_round_trips():
    trainer = _trainer(scheduler_type="step", scheduler_params={"step": 1, "gamma": 0.5}, warmup_epochs=1)
    optimizer = build_optimizer(Tiny(), trainer)
    scheduler = build_scheduler(optimizer, trainer)
    for _ in range(3):
        scheduler.step()
    state = scheduler.state_dict()
    optimizer2 = build_optimizer(Tiny(), trainer)
    scheduler2 = build_scheduler(optimizer2, trainer)  # the order of StageTrainer._resume
    optimizer2.load_state_dict(optimizer.state_dict())
    scheduler2.load_state_dict(state)
    scheduler.step(), scheduler2.step()
    assert optimizer2.param_groups[0]["lr"] == optimizer.param_groups[0]["lr"] == pytest.approx(0.125)


def test_classifier_optimizer_params_override_only_the_given_keys():
    trainer = _trainer(optimizer_params={"lr": 0.1, "momentum": 0.5, "weight_decay": 1e-3},
                       classifier_optimizer_params={"lr": 0.01})
    groups = {g["name"]: g for g in parameter_groups(Tiny(), trainer)}
    assert (groups["embedder"]["lr"], groups["embedder"]["momentum"], groups["embedder"]["weight_decay"]) == (0.1, 0.5, 1e-3)
    assert (groups["classifier"]["lr"], groups["classifier"]["momentum"], groups["classifier"]["weight_decay"]) == (0.01, 0.5, 1e-3)
    optimizer = build_optimizer(Tiny(), trainer)
    assert [g["lr"] for g in optimizer.param_groups] == [0.1, 0.01]
    assert len(optimizer.param_groups[1]["params"]) == 1  # the classifier's weight only


@pytest.mark.parametrize("name", ["sgd", "rmsprop", "adam", "adamw"])
def test_optimisers_step(name):
    model = Tiny()
    optimizer = build_optimizer(model, _trainer(optimizer_type=name, optimizer_params={"lr": 0.01}))
    before = model._embedder.weight.detach().clone()
    model._classifier(model._embedder(torch.ones(2, 3))).square().sum().backward()
    optimizer.step()
    assert not torch.equal(before, model._embedder.weight)


@pytest.mark.parametrize("adaptive", [False, True])
def test_sam_splits_groups_and_steps_from_the_perturbed_gradient(adaptive):
    weight = nn.Parameter(torch.tensor([[1.0, 2.0]]))
    bias = nn.Parameter(torch.tensor([3.0]))
    rho, lr = 0.5, 0.1
    sam = SAM([{"params": [weight, bias]}], base_type="sgd", base_params={"lr": lr, "momentum": 0.0, "weight_decay": 0.0},
              rho=rho, adaptive=adaptive)
    assert [len(g["params"]) for g in sam.param_groups] == ([1, 1] if adaptive else [2])
    if adaptive:
        assert [g["adaptive"] for g in sam.param_groups] == [True, False]  # rank <= 1 tensors: not adaptive

    def loss_fn():
        return 0.5 * (weight.square().sum() + bias.square().sum())

    loss_fn().backward()
    w, b = weight.detach().clone(), bias.detach().clone()
    calls = []

    def closure():
        calls.append(1)
        sam.zero_grad()
        loss = loss_fn()
        loss.backward()
        return loss

    sam.step(closure)
    # hand computation: gradient = parameter; e = rho * T^2 g / ||T g|| (T = |w| for adaptive tensors, else 1)
    tw = w.abs() if adaptive else torch.ones_like(w)
    norm = math.sqrt(float((tw * w).square().sum() + b.square().sum()))
    ew, eb = rho * tw.square() * w / norm, rho * b / norm
    assert calls == [1]
    torch.testing.assert_close(weight.detach(), w - lr * (w + ew))
    torch.testing.assert_close(bias.detach(), b - lr * (b + eb))


def test_sam_from_the_config_keeps_group_options():
    trainer = _trainer(optimizer_type="sam", optimizer_params={"lr": 0.1, "rho": 0.2},
                       classifier_optimizer_params={"lr": 0.01})
    optimizer = build_optimizer(Tiny(), trainer)
    assert isinstance(optimizer, SAM)
    assert sorted({g["lr"] for g in optimizer.param_groups}) == [0.01, 0.1]
    assert {g["rho"] for g in optimizer.param_groups} == {0.2}
