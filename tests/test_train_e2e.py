"""End-to-end tiny runs: run store, determinism, resume after SIGKILL, NaN losses, CLI errors."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from conftest import ROOT, tiny_config
from pml_core.config import resolved_config
from pml_core.errors import RunError
from pml_core.experiments import runstore
from pml_core.experiments.run import train_run


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, data_root) -> Path:
    root = tmp_path_factory.mktemp("runs") / "arcface"
    train_run(tiny_config(), root, data_root, logger="none", progress=False)
    return root


def test_run_store_is_complete(tiny_run):
    for name in ("config.yaml", "metrics.json", "history.csv", "provenance.json", "predictions.npz"):
        assert (tiny_run / name).is_file(), name
    assert not (tiny_run / "failed.json").exists()
    metrics = runstore.read_metrics(tiny_run)
    assert {"valid", "infer-glyphs", "infer-glyphs-pairs", "infer-glyphs-lossy", "infer-glyphs-lossy-pairs"} <= set(metrics)
    for key in ("recall@1", "recall@2", "recall@4", "recall@8", "mapr"):
        assert math.isfinite(metrics["infer-glyphs"][key]) and 0 <= metrics["infer-glyphs"][key] <= 1
    assert 0 <= metrics["infer-glyphs-pairs"]["auc"] <= 1
    history = runstore.read_history(tiny_run)
    assert [row["epoch"] for row in history] == [1, 2] and all(math.isfinite(row["train/loss"]) for row in history)
    provenance = json.loads((tiny_run / "provenance.json").read_text())
    assert provenance["versions"]["torch"].startswith("2.14.1") and provenance["wall_seconds"] > 0
    saved = yaml.safe_load((tiny_run / "config.yaml").read_text())
    assert saved == resolved_config(tiny_config())


def test_predictions_hold_test_set_means_and_labels(tiny_run):
    predictions = runstore.read_predictions(tiny_run)
    test = predictions["infer-glyphs"]
    assert test["mean"].shape == (len(test["labels"]), 16)
    np.testing.assert_allclose(np.linalg.norm(test["mean"], axis=1), 1.0, atol=1e-5)  # spherical Dirac
    assert "confidence" not in test  # deterministic embeddings carry no confidence
    assert set(predictions["infer-glyphs-pairs"]) >= {"scores", "labels"}


def test_a_complete_run_is_reused(tiny_run, data_root):
    before = (tiny_run / "metrics.json").stat().st_mtime_ns
    train_run(tiny_config(), tiny_run, data_root, logger="none", progress=False)
    assert (tiny_run / "metrics.json").stat().st_mtime_ns == before


def test_another_config_in_the_same_root_is_refused(tmp_path, data_root):
    root = tmp_path / "run"
    (root / "checkpoints" / "stage-0").mkdir(parents=True)
    (root / "checkpoints" / "stage-0" / "last.pth").write_bytes(b"a checkpoint")  # a run to protect
    runstore.write_config(root, "seed: 1\n")
    with pytest.raises(RunError, match="another config"):
        train_run(tiny_config(), root, data_root, logger="none", progress=False)


def test_same_seed_same_metrics_other_seed_other_metrics(tiny_run, tmp_path, data_root):
    again = train_run(tiny_config(), tmp_path / "again", data_root, logger="none", progress=False)
    assert (tmp_path / "again" / "metrics.json").read_text() == (tiny_run / "metrics.json").read_text()
    other = train_run(tiny_config(seed=1), tmp_path / "other", data_root, logger="none", progress=False)
    assert other["infer-glyphs"] != again["infer-glyphs"]


def test_nan_loss_stops_the_run_and_marks_it_failed(tmp_path, data_root, monkeypatch):
    import pml_core.losses as losses

    real = losses.build_criterion

    def poisoned(params, model):
        criterion = real(params, model)
        return lambda output, labels: (criterion(output, labels)[0] * float("nan"), {"xent": float("nan")})

    monkeypatch.setattr(losses, "build_criterion", poisoned)
    with pytest.raises(RunError, match=r"loss became nan at stage 0, epoch 1, step 1"):
        train_run(tiny_config(), tmp_path / "nan", data_root, logger="none", progress=False)
    assert (tmp_path / "nan" / "failed.json").is_file()
    assert not (tmp_path / "nan" / "metrics.json").exists()


def _train_command(root: Path, data_root: Path) -> list[str]:
    return [sys.executable, "-m", "pml_core", "train", "--no-progress", "--logger", "none",
            "--config", str(ROOT / "configs/base.yaml"), "--config", str(ROOT / "configs/datasets/glyphs.yaml"),
            "--config", str(ROOT / "configs/methods/arcface.yaml"), "--config", str(ROOT / "configs/profiles/tiny.yaml"),
            "--set", "trainer_params.num_epochs=3", "--set", "trainer_params.max_steps_per_epoch=12",
            "--set", "model_params.distribution_params.dim=16", "--train-root", str(root), str(data_root)]


def test_killed_run_resumes_to_the_same_metrics(tmp_path, data_root):
    straight = tmp_path / "straight"
    subprocess.run(_train_command(straight, data_root), check=True, capture_output=True, cwd=ROOT)

    killed = tmp_path / "killed"
    process = subprocess.Popen(_train_command(killed, data_root), cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    last = killed / "checkpoints" / "stage-0" / "last.pth"
    deadline = time.time() + 300
    while not last.exists() and process.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert torch.load(last, weights_only=True)["epoch"] == 1, "the kill should land during the second epoch"
    assert not (killed / "metrics.json").exists()

    subprocess.run(_train_command(killed, data_root), check=True, capture_output=True, cwd=ROOT)
    assert (killed / "metrics.json").read_text() == (straight / "metrics.json").read_text()
    assert [r["epoch"] for r in runstore.read_history(killed)] == [1, 2, 3]


def test_cli_reports_bad_input_in_one_line(tmp_path):
    env = {**os.environ, "PML_DATA_ROOT": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "pml_core", "train", "--config", str(ROOT / "configs/base.yaml"),
                             "--config", str(ROOT / "configs/datasets/cub200.yaml"), "--config",
                             str(ROOT / "configs/methods/arcface.yaml"), "--train-root", str(tmp_path / "r"),
                             str(tmp_path / "missing")], capture_output=True, text=True, cwd=ROOT, env=env)
    assert result.returncode == 2 and result.stderr.startswith("error: ")
    assert "Traceback" not in result.stderr and "data_prep" in result.stderr
    assert not (tmp_path / "r" / "metrics.json").exists()
    missing_config = subprocess.run([sys.executable, "-m", "pml_core", "train", "--config", str(tmp_path / "none.yaml"),
                                     "--train-root", str(tmp_path / "r"), str(tmp_path)], capture_output=True, text=True,
                                    cwd=ROOT)
    assert missing_config.returncode == 2 and "does not exist" in missing_config.stderr


def test_grid_command_reuses_complete_runs_and_rejects_bad_slices(tmp_path, capsys):
    from pml_core.cli import main

    done = runstore.run_dir(tmp_path, "tiny", "glyphs", "arcface", 8, 0)
    runstore.write_metrics(done, {"infer-glyphs": {"mapr": 0.5}})
    assert main(["grid", "--profile", "tiny", "--methods", "arcface", "--seeds", "0", "--dims", "8",
                 "--results-root", str(tmp_path), "--data-root", str(tmp_path / "data")]) == 0
    assert "0 trained, 1 reused, 0 failed" in capsys.readouterr().out
    assert main(["grid", "--profile", "tiny", "--methods", "arcfase", "--results-root", str(tmp_path)]) == 2
    assert "unknown method 'arcfase'. Did you mean 'arcface'?" in capsys.readouterr().err
