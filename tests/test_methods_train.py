"""Every method family of configs/methods trains on glyphs in the tiny profile.

Runtime: about 2 minutes on 2 shared CPU cores (70 families, the reference's 68 and 2 kit additions, x 1-2
stages of a few steps, plus a handful of full tiny runs). Per family and stage, through the stage's real
StageTrainer (model, criterion, optimizer, clipping):

* the loss is finite and falls when the stage trains on one fixed batch (common random numbers: the loss is
  measured before and after with the same RNG seed, so sampling noise cannot make it flaky);
* the last stage's distribution has confidences exactly for the probabilistic families;
* stage 1 of two-stage families: entries inside ``resume_prefixes`` hold the stage-0 weights, the others are
  freshly initialised; parameters frozen by the stage's freeze flags / ``freeze_classifier`` (and their BN
  statistics) do not move, every other parameter does.

A full ``train_run`` for one family per classifier type checks metrics.json and the predictions' confidences.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from conftest import ROOT, tiny_config
from pml_core.config import num_stages, stage_config
from pml_core.experiments import runstore
from pml_core.experiments.run import train_run
from pml_core.train import checkpoint as ckpt
from pml_core.train.loggers import Logger
from pml_core.train.loop import StageTrainer
from pml_core.utils import seed_everything

METHODS = sorted(p.stem for p in (ROOT / "configs" / "methods").glob("*.yaml"))
OVERFIT_STEPS = 10
DIM = 8
# 16-px glyphs, batches of 4 classes x 4 images: a step costs milliseconds.
OVERRIDES = ["trainer_params.num_epochs=1", "trainer_params.max_steps_per_epoch=2", "dataset_params.batch_size=16",
             "dataset_params.transform_params.image_size=16"]
FREEZE_FLAGS = {"freeze_stem": "_embedder._stem.", "freeze_head": "_embedder._head.",
                "freeze_extra_head": "_embedder._extra_head.", "freeze_normalizer": "_embedder._normalizer."}


@pytest.fixture(scope="module")
def dataset_cache():
    return {}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Small tensors: one thread is faster than two on a shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _trainer(cfg, stage, root, data_root, cache) -> StageTrainer:
    key = repr(stage_config(cfg, stage).dataset_params)
    trainer = StageTrainer(cfg, stage, root, data_root, device=torch.device("cpu"), logger=Logger(), progress=False,
                           datasets=cache.get(key))
    cache[key] = trainer.datasets
    return trainer


def _loss_at(trainer: StageTrainer, images, labels) -> float:
    """The training-mode loss of the batch under a fixed RNG seed (same samples for every call)."""
    state = torch.random.get_rng_state()
    torch.manual_seed(1234)
    trainer.model.train()
    snapshot = {k: v.clone() for k, v in trainer.model.state_dict().items()}  # BN running stats must not drift
    with torch.no_grad():
        loss, _ = trainer.criterion(trainer.model(images, labels), labels)
    trainer.model.load_state_dict(snapshot)
    torch.random.set_rng_state(state)
    return float(loss)


def _overfit(trainer: StageTrainer) -> tuple[float, list[float]]:
    """Train the stage on one fixed batch; returns the loss before and after every other step of the second half.

    SGD with momentum at the glyphs learning rate oscillates on a single batch, so "falls" means: some loss of
    the second half of the run is below the initial one (a frozen, detached or sign-flipped loss never is).
    """
    images, labels = next(iter(trainer._train_loader(0)))
    before = _loss_at(trainer, images, labels)
    trainer.model.train()
    seed_everything(trainer.cfg.seed + 1)
    later = []
    for step in range(OVERFIT_STEPS):
        loss, terms, _ = trainer._step(images, labels)
        assert torch.isfinite(loss), f"stage {trainer.stage} step {step + 1}: loss {float(loss)} ({terms})"
        if step + 1 > OVERFIT_STEPS // 2 and (OVERFIT_STEPS - step) % 2 == 1:
            later.append(_loss_at(trainer, images, labels))
            trainer.model.train()
    return before, later


def _frozen_prefixes(stage_cfg) -> list[str]:
    mp = stage_cfg.model_params
    prefixes = [prefix for flag, prefix in FREEZE_FLAGS.items() if (mp.embedder_params or {}).get(flag)]
    if mp.freeze_classifier:
        prefixes.append("_classifier.")
    return prefixes


def _state(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("method", METHODS)
def test_family_trains(method, tmp_path, data_root, dataset_cache):
    cfg = tiny_config(method, dim=DIM, overrides=OVERRIDES)
    stages = num_stages(cfg)
    for stage in range(stages):
        stage_cfg = stage_config(cfg, stage)
        trainer = _trainer(cfg, stage, tmp_path, data_root, dataset_cache)
        model = trainer.model
        start = _state(model)

        if stage > 0:
            prefixes = tuple(p.strip() for p in stage_cfg.resume_prefixes.split(",") if p.strip())
            previous = ckpt.load_checkpoint(ckpt.stage_dir(tmp_path, stage - 1) / f"{cfg.stage_resume}.pth")["model"]
            seed_everything(stage_cfg.seed)
            from pml_core.model import build_model

            train_set = trainer.datasets.train
            fresh = build_model(stage_cfg.model_params, num_classes=train_set.num_classes,
                                priors=getattr(train_set, "priors", None)).state_dict()
            moved = 0
            for name, value in start.items():
                if name.startswith(prefixes):
                    assert torch.equal(value, previous[name]), f"{name} was not resumed from stage {stage - 1}"
                    moved += not torch.equal(value, fresh[name])
                else:
                    assert torch.equal(value, fresh[name]), f"{name} is outside resume_prefixes but not fresh"
            assert moved > 0, "the resumed entries equal a fresh model: the check cannot tell them apart"

        before, later = _overfit(trainer)
        assert math.isfinite(before) and all(map(math.isfinite, later))
        assert min(later) < before, f"stage {stage}: loss did not fall on a fixed batch ({before:.5g} -> {later})"

        frozen = tuple(_frozen_prefixes(stage_cfg))
        end = _state(model)
        parameters = dict(model.named_parameters())
        for name, value in end.items():
            if frozen and name.startswith(frozen):
                assert torch.equal(value, start[name]), f"stage {stage}: frozen {name} changed"
                if name in parameters:
                    assert not parameters[name].requires_grad, name
            elif name in parameters and parameters[name].requires_grad:
                assert not torch.equal(value, start[name]), f"stage {stage}: trainable {name} did not change"
        ckpt.save_checkpoint(trainer.dir / f"{cfg.stage_resume}.pth", model=model.state_dict(), epoch=1, score=None,
                             stage=stage)

    probabilistic = stage_config(cfg, stages - 1).model_params.distribution_type != "dirac"
    assert model.distribution.has_confidences == probabilistic


# One family per classifier type (and per stage layout) for a complete tiny run.
FULL_RUNS = {
    "arcface": False, "proxy-nca": False, "multi-similarity": False, "dsml": False, "vmf-loss": True, "spe": True,
    "hib": True, "pfe-arcface": True, "scl-cosface": True, "dul-reg-arcface": True,
}


@pytest.mark.parametrize("method", sorted(FULL_RUNS))
def test_full_tiny_run(method, tmp_path, data_root):
    root = tmp_path / method
    metrics = train_run(tiny_config(method, dim=DIM, overrides=OVERRIDES), root, data_root, logger="none",
                        progress=False)
    assert (root / "metrics.json").is_file()
    assert json.loads((root / "metrics.json").read_text()) == metrics
    assert all(math.isfinite(row["train/loss"]) for row in runstore.read_history(root))
    assert 0 <= metrics["infer-glyphs"]["mapr"] <= 1
    test = runstore.read_predictions(root)["infer-glyphs"]
    assert ("confidence" in test) == FULL_RUNS[method]
    if FULL_RUNS[method]:
        assert test["confidence"].shape == test["labels"].shape and np.isfinite(test["confidence"]).all()
