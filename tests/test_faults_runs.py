"""Run folders under faults: reuse only for the same config, a folder without checkpoints is not a run,
stale temporary files swept, fsync before the rename, failed.json for every failure, damaged
metrics.json."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import pytest

from conftest import ROOT, tiny_config
from pml_core.cli import main
from pml_core.errors import ConfigError, DataError, RunError
from pml_core.experiments import runstore
from pml_core.experiments.run import train_run
from pml_core.utils import sweep_stale_tmp, write_text_atomic


@pytest.fixture(scope="module")
def complete_run(tmp_path_factory, data_root) -> Path:
    root = tmp_path_factory.mktemp("faults-runs") / "arcface"
    train_run(tiny_config(), root, data_root, logger="none", progress=False)
    return root


def _train_args(root: Path, data_root: Path, *overrides: str) -> list[str]:
    args = ["train", "--no-progress", "--logger", "none", "--train-root", str(root), str(data_root),
            "--set", "model_params.distribution_params.dim=16", "--set", "seed=0"]
    for name in ("base", "datasets/glyphs", "methods/arcface", "profiles/tiny"):
        args += ["--config", str(ROOT / f"configs/{name}.yaml")]
    return args + [item for override in overrides for item in ("--set", override)]


def test_a_complete_run_is_not_reused_for_another_config(complete_run, data_root, capsys):
    before = (complete_run / "metrics.json").read_text()
    with pytest.raises(RunError, match=r"already holds a run of another config \(seed: 0 there, 7 here"):
        train_run(tiny_config(seed=7), complete_run, data_root, logger="none", progress=False)
    assert main(_train_args(complete_run, data_root, "seed=7")) == 2
    err = capsys.readouterr().err
    assert "another config" in err and "seed" in err
    assert (complete_run / "metrics.json").read_text() == before
    assert not (complete_run / "failed.json").exists()


def test_a_complete_run_is_reused_for_its_own_config_on_any_device(complete_run, data_root):
    before = (complete_run / "metrics.json").stat().st_mtime_ns
    same = train_run(tiny_config(overrides=["device=auto"]), complete_run, data_root, logger="none", progress=False)
    assert same == runstore.read_metrics(complete_run)
    assert (complete_run / "metrics.json").stat().st_mtime_ns == before


def test_a_folder_without_checkpoints_is_not_a_run_to_protect(tmp_path, data_root):
    """A config error found after config.yaml was written (unknown dataset) must not block the corrected command;
    the failed attempt is marked, and what a killed writer left is swept."""
    root = tmp_path / "run"
    with pytest.raises(ConfigError, match="unknown dataset 'glyhps'"):
        train_run(tiny_config(overrides=["dataset_params.name=glyhps"]), root, data_root, logger="none", progress=False)
    assert (root / "config.yaml").is_file()
    failed = json.loads((root / "failed.json").read_text())
    assert failed["error"] == "ConfigError" and "glyhps" in failed["reason"]
    stale = [root / ".history.csv.k3j2.tmp", root / "checkpoints" / "stage-0" / ".last.pth.ab12cd.tmp"]
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"half a file")
    metrics = train_run(tiny_config(), root, data_root, logger="none", progress=False)
    assert "infer-glyphs" in metrics and not (root / "failed.json").exists()
    assert not list(root.rglob("*.tmp"))


def test_a_data_error_during_a_run_writes_failed_json(tmp_path):
    root = tmp_path / "cub"
    raw = tiny_config(overrides=["dataset_params.name=cub200-openset"])
    with pytest.raises(DataError):
        train_run(raw, root, tmp_path / "no-data", logger="none", progress=False)
    failed = json.loads((root / "failed.json").read_text())
    assert failed["error"] == "DataError" and "cub" in failed["reason"].lower()


def test_a_bug_during_a_run_writes_failed_json_with_its_traceback(tmp_path, data_root, monkeypatch):
    import pml_core.experiments.run as run

    def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(run, "train_stages", broken)
    with pytest.raises(ZeroDivisionError):
        train_run(tiny_config(), tmp_path / "run", data_root, logger="none", progress=False)
    failed = json.loads((tmp_path / "run" / "failed.json").read_text())
    assert failed["reason"] == "ZeroDivisionError: a bug" and "Traceback" in failed["traceback"]


def test_damaged_metrics_json_is_a_clear_error_and_deleting_it_retests(complete_run, tmp_path, data_root, capsys):
    run = tmp_path / "run"
    shutil.copytree(complete_run, run)
    good = (run / "metrics.json").read_text()
    (run / "metrics.json").write_text(good[: len(good) // 2])
    with pytest.raises(RunError, match=r"metrics.json is damaged .*delete it and run the same command again"):
        runstore.read_metrics(run)
    assert main(_train_args(run, data_root)) == 2
    assert "metrics.json is damaged" in capsys.readouterr().err
    (run / "metrics.json").unlink()  # as advised: the run is tested again from its checkpoints
    train_run(tiny_config(), run, data_root, logger="none", progress=False)
    assert (run / "metrics.json").read_text() == good


def test_sweep_removes_only_the_temporary_files_of_atomic_writes(tmp_path):
    keep = [tmp_path / "metrics.json", tmp_path / ".hidden", tmp_path / "notes.tmp"]
    stale = [tmp_path / ".metrics.json.x1y2.tmp", tmp_path / "checkpoints" / "stage-1" / ".best.pth.q9.tmp"]
    for path in keep + stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    assert sorted(sweep_stale_tmp(tmp_path)) == sorted(stale)
    assert all(path.exists() for path in keep) and not any(path.exists() for path in stale)
    assert sweep_stale_tmp(tmp_path / "missing") == []


def test_atomic_writes_fsync_the_file_before_the_rename_and_the_folder_after(tmp_path, monkeypatch):
    import pml_core.utils as utils

    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append("fsync folder" if stat.S_ISDIR(os.fstat(fd).st_mode) else "fsync file")
        real_fsync(fd)

    def replace(source, target):
        events.append("rename")
        real_replace(source, target)

    monkeypatch.setattr(utils.os, "fsync", fsync)
    monkeypatch.setattr(utils.os, "replace", replace)
    write_text_atomic(tmp_path / "a.txt", "content")
    assert events == ["fsync file", "rename", "fsync folder"]
    assert (tmp_path / "a.txt").read_text() == "content" and not list(tmp_path.glob(".*.tmp"))


def test_a_failed_atomic_write_leaves_the_old_file_and_no_temporary(tmp_path):
    from pml_core.utils import atomic_path

    write_text_atomic(tmp_path / "a.txt", "old")
    with pytest.raises(RuntimeError):
        with atomic_path(tmp_path / "a.txt") as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert (tmp_path / "a.txt").read_text() == "old" and not list(tmp_path.glob(".*.tmp"))


def test_config_yaml_of_the_run_is_the_resolved_config(complete_run):
    """The identity check compares resolved configs; what the run stored parses back to the same one."""
    from pml_core.config import load_yaml, parse_config, resolved_dict

    stored = parse_config(load_yaml(complete_run / "config.yaml"))
    assert resolved_dict(stored) == resolved_dict(tiny_config())


def test_the_grid_reuses_a_complete_run_for_its_own_config_only(complete_run, tmp_path, data_root):
    from pml_core.experiments.grid import ensure_runs

    path = runstore.run_dir(tmp_path / "results", "tiny", "glyphs", "arcface", 16, 0)
    shutil.copytree(complete_run, path)
    same = ensure_runs("tiny", ["glyphs"], ["arcface"], [16], [0], results_root=tmp_path / "results",
                       data_root=data_root)
    assert same.reused == [path] and not same.failed
    other = ensure_runs("tiny", ["glyphs"], ["arcface"], [16], [0], results_root=tmp_path / "results",
                        data_root=data_root, overrides=["trainer_params.num_epochs=3"])
    assert not other.reused and "another config (trainer_params.num_epochs: 2 there, 3 here" in other.failed[path]
    assert (path / "metrics.json").read_text() == (complete_run / "metrics.json").read_text()
