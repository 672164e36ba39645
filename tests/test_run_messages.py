"""Resuming and reusing say so, once, on stderr: train, evaluate, grid (CLI and library), rank 0 only."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import tiny_config
from pml_core import cli
from pml_core.experiments import runstore
from pml_core.experiments.grid import ensure_runs
from pml_core.experiments.protocols import evaluate_seeds, patched
from pml_core.experiments.run import train_run
from pml_core.train import loop
from pml_core.utils import announce

DIM = 8


@pytest.fixture(scope="module")
def grid_run(tmp_path_factory, data_root) -> tuple[Path, Path]:
    """(results root, run folder) of one complete tiny grid run (arcface, seed 0)."""
    results = tmp_path_factory.mktemp("results")
    report = ensure_runs("tiny", ["glyphs"], ["arcface"], [DIM], [0], results_root=results, data_root=data_root)
    assert not report.failed, report.failed
    return results, runstore.run_dir(results, "tiny", "glyphs", "arcface", DIM, 0)


def test_train_says_it_reuses_a_complete_run(grid_run, data_root, capsys):
    _, run = grid_run
    train_run(tiny_config(dim=DIM), run, data_root, logger="none", progress=False)
    err = capsys.readouterr().err
    assert err.count(f"reusing the complete run in {run}") == 1


def test_evaluate_says_which_seed_runs_it_reuses(grid_run, data_root, capsys):
    _, run = grid_run
    cfg = patched(tiny_config(dim=DIM), {"num_evaluation_seeds": 1})
    evaluate_seeds(cfg, run.parent, data_root, logger="none", progress=False)  # seed-0 is the grid run
    assert capsys.readouterr().err.count(f"reusing the complete run in {run}") == 1


def test_grid_says_which_runs_it_reuses(grid_run, data_root, capsys):
    results, run = grid_run
    kwargs = dict(results_root=results, data_root=data_root)
    assert ensure_runs("tiny", ["glyphs"], ["arcface"], [DIM], [0], **kwargs).reused == [run]
    assert capsys.readouterr().err == ""  # the library (notebooks) stays quiet unless asked
    ensure_runs("tiny", ["glyphs"], ["arcface"], [DIM], [0], verbose=True, **kwargs)
    assert capsys.readouterr().err.count(f"reusing the complete run in {run}") == 1
    code = cli.main(["grid", "--profile", "tiny", "--methods", "arcface", "--dims", str(DIM), "--seeds", "0",
                     "--results-root", str(results), "--data-root", str(data_root)])
    captured = capsys.readouterr()
    assert code == 0 and captured.err.count(f"reusing the complete run in {run}") == 1
    assert "1 reused" in captured.out


def test_an_interrupted_run_says_where_it_resumes(tmp_path, data_root, capsys, monkeypatch):
    root = tmp_path / "run"
    save = loop.StageTrainer._save

    def save_then_interrupt(self, epoch):
        save(self, epoch)
        raise KeyboardInterrupt  # as a Ctrl-C right after epoch 1 was checkpointed

    monkeypatch.setattr(loop.StageTrainer, "_save", save_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        train_run(tiny_config(dim=DIM), root, data_root, logger="none", progress=False)
    assert "resuming" not in capsys.readouterr().err
    monkeypatch.setattr(loop.StageTrainer, "_save", save)
    train_run(tiny_config(dim=DIM), root, data_root, logger="none", progress=False)
    err = capsys.readouterr().err
    last = root / "checkpoints" / "stage-0" / "last.pth"
    assert err.count(f"resuming stage 0 at epoch 2 from {last}") == 1
    assert "reusing" not in err and runstore.is_complete(root)


def test_only_rank_zero_announces(monkeypatch, capsys):
    monkeypatch.setenv("RANK", "1")
    announce("reusing the complete run in somewhere")
    assert capsys.readouterr().err == ""
    monkeypatch.setenv("RANK", "0")
    announce("reusing the complete run in somewhere")
    assert capsys.readouterr() == ("", "reusing the complete run in somewhere\n")
