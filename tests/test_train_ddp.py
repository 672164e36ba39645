"""DDP under torchrun on CPU (gloo): two processes train one run and write one run store."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import torch

from conftest import ROOT
from pml_core.experiments import runstore


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_torchrun_two_processes_train_and_evaluate_once(tmp_path, data_root):
    root = tmp_path / "ddp"
    configs = []
    for name in ("base.yaml", "datasets/glyphs.yaml", "methods/arcface.yaml", "profiles/tiny.yaml"):
        configs += ["--config", str(ROOT / "configs" / name)]
    overrides = ["trainer_params.num_epochs=2", "trainer_params.max_steps_per_epoch=2",
                 "dataset_params.add_lossy_testsets=false", "dataset_params.add_verification_testsets=false",
                 "dataset_params.transform_params.image_size=16", "model_params.distribution_params.dim=8"]
    for override in overrides:
        configs += ["--set", override]
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                             "--master_port", str(_free_port()), "-m", "pml_core", "train", "--no-progress",
                             "--logger", "none", *configs, "--train-root", str(root), str(data_root)],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    printed = json.loads(result.stdout[result.stdout.index("{"):])  # rank 0 alone prints the metrics
    metrics = runstore.read_metrics(root)
    assert printed == metrics and 0 <= metrics["infer-glyphs"]["mapr"] <= 1
    assert json.loads((root / "provenance.json").read_text())["world_size"] == 2
    assert [row["epoch"] for row in runstore.read_history(root)] == [1, 2]
    assert sorted(p.name for p in root.iterdir() if p.suffix == ".tmp") == []
    state = torch.load(root / "checkpoints" / "stage-0" / "last.pth", weights_only=True)
    assert state["completed"] and state["epoch"] == 2
    assert not any(k.startswith("module.") for k in state["model"])  # the bare model's names, as without DDP
