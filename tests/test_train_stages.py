"""Two-stage PFE: the second stage resumes exactly the named parts, freezes them, trains the rest."""

from __future__ import annotations

import shutil

import pytest
import torch

from conftest import tiny_config
from pml_core.config import stage_config
from pml_core.experiments.run import train_run
from pml_core.model import build_model
from pml_core.train import checkpoint as ckpt
from pml_core.train.loggers import Logger
from pml_core.train.loop import StageTrainer
from pml_core.utils import resolve_device, seed_everything

FAST = ["trainer_params.num_epochs=2", "trainer_params.max_steps_per_epoch=2",
        "dataset_params.add_lossy_testsets=false", "dataset_params.add_verification_testsets=false",
        "dataset_params.transform_params.image_size=16"]
RESUMED = ("_embedder._stem.", "_embedder._head.")
FROZEN = ("_embedder._stem.", "_embedder._head.", "_embedder._normalizer.")


@pytest.fixture(scope="module")
def pfe_run(tmp_path_factory, data_root):
    cfg = tiny_config("pfe-arcface", dim=8, overrides=FAST)
    root = tmp_path_factory.mktemp("pfe") / "run"
    train_run(cfg, root, data_root, logger="none", progress=False)
    return cfg, root, data_root


def _model(path):
    return ckpt.load_checkpoint(path)["model"]


def test_frozen_parts_are_bit_identical_and_the_rest_trains(pfe_run):
    cfg, root, data_root = pfe_run
    stage0 = _model(ckpt.stage_dir(root, 0) / "best.pth")
    final = _model(ckpt.stage_dir(root, 1) / "last.pth")
    frozen = [k for k in final if k.startswith(FROZEN) and k in stage0]
    assert any(k.startswith("_embedder._stem.") for k in frozen) and any(k.startswith("_embedder._head.") for k in frozen)
    for key in frozen:  # parameters and BatchNorm statistics alike
        assert torch.equal(stage0[key], final[key]), key
    extra = [k for k in final if k.startswith("_embedder._extra_head.") and final[k].is_floating_point()]
    assert extra and not any(k.startswith("_classifier.") for k in final)
    initial = _initial_stage1_state(cfg, root, data_root)
    assert any(not torch.equal(initial[k], final[k]) for k in extra), "the uncertainty head did not train"


def _initial_stage1_state(cfg, root, data_root):
    """The stage-1 model right after loading the stage-0 checkpoint, before any step (in a copy of the run)."""
    copy_root = root.parent / "stage1-start"
    if not copy_root.exists():
        shutil.copytree(ckpt.stage_dir(root, 0), ckpt.stage_dir(copy_root, 0))
    trainer = StageTrainer(cfg, 1, copy_root, data_root, device=resolve_device("cpu"), logger=Logger(),
                           progress=False)
    return {k: v.clone() for k, v in trainer.model.state_dict().items()}


def test_stage1_loads_only_the_resume_prefixes(pfe_run):
    cfg, root, data_root = pfe_run
    stage0 = _model(ckpt.stage_dir(root, 0) / "best.pth")
    initial = _initial_stage1_state(cfg, root, data_root)
    resumed = [k for k in initial if k.startswith(RESUMED)]
    assert resumed and all(torch.equal(initial[k], stage0[k]) for k in resumed)
    seed_everything(cfg.seed)
    cfg1 = stage_config(cfg, 1)
    fresh = build_model(cfg1.model_params, num_classes=24).state_dict()
    others = [k for k in initial if not k.startswith(RESUMED)]
    assert any(k.startswith("_embedder._extra_head.") for k in others)
    for key in others:  # freshly initialised as the stage's seed gives
        assert torch.equal(initial[key], fresh[key]), key


def test_parameters_outside_prefixes_do_not_get_gradients_when_frozen(pfe_run):
    cfg, root, data_root = pfe_run
    trainer_groups = [g["name"] for g in torch.load(ckpt.stage_dir(root, 1) / "last.pth", weights_only=True)
                      ["optimizer"]["param_groups"]]
    assert trainer_groups == ["embedder"]  # no classifier in the PFE stage
