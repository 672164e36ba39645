"""Grid workers (pml_core.experiments.workers): 3 local workers train the tiny grid once per run with the same
results as one; a killed worker's run is taken over and ends identical; grid --status and --retry-failed;
protocols farmed out. The Slurm launcher is in test_grid_workers_slurm.py."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from conftest import ROOT
from pml_core.cli import main
from pml_core.experiments import claim, runstore
from pml_core.experiments.grid import ensure_runs
from pml_core.report import paper

TINY = paper.grid_slice("tiny")
METHODS = list(dict.fromkeys(TINY["methods"] + TINY["variants"]))  # arcface, pfe-arcface, pfe-nms-arcface
LONGER = ["trainer_params.num_epochs=3", "trainer_params.max_steps_per_epoch=12"]  # room for a kill mid-run


def _runs(root: Path) -> list[Path]:
    return [runstore.run_dir(root, "tiny", d, m, dim, s) for d in TINY["datasets"] for m in METHODS
            for dim in TINY["dims"] for s in TINY["seeds"]]


def _grid(*args: str, root: Path, data_root: Path) -> list[str]:
    return [sys.executable, "-m", "pml_core", "grid", "--profile", "tiny", "--no-progress",
            "--results-root", str(root), "--data-root", str(data_root), *args]


@pytest.fixture(scope="module")
def one_worker(tmp_path_factory, data_root) -> Path:
    root = tmp_path_factory.mktemp("one")
    report = ensure_runs("tiny", TINY["datasets"], METHODS, TINY["dims"], TINY["seeds"], results_root=root,
                         data_root=data_root)
    assert len(report.completed) == 6 and not report.failed
    return root


def test_three_workers_train_each_run_once_with_the_results_of_one(one_worker, tmp_path, data_root):
    root = tmp_path / "three"
    result = subprocess.run(_grid("--workers", "3", root=root, data_root=data_root), cwd=ROOT, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr
    assert "grid: 6 trained, 0 reused, 0 failed" in result.stdout
    for run in _runs(root):
        attempts = claim.read_attempts(run)
        assert len(attempts) == 1, f"{run} was trained {len(attempts)} times"
        assert attempts[0]["worker"] in ("1/3", "2/3", "3/3")
        straight = one_worker / run.relative_to(root)
        assert (run / "metrics.json").read_bytes() == (straight / "metrics.json").read_bytes(), run
        assert not (run / claim.RECORD_NAME).exists()
    for method in ("pfe-arcface", "pfe-nms-arcface"):  # stage 0 is arcface's: copied, never trained twice
        for seed in TINY["seeds"]:
            run = runstore.run_dir(root, "tiny", "glyphs", method, 8, seed)
            reused = json.loads((run / "checkpoints" / "stage-0" / "reused_from.json").read_text())["run"]
            assert Path(reused) == runstore.run_dir(root, "tiny", "glyphs", "arcface", 8, seed)
    for name in ("table_retrieval", "table_confidence"):
        mine = paper.paper_table(name, root, "tiny", TINY, tmp_path / "tables-three", METHODS)[0]
        theirs = paper.paper_table(name, one_worker, "tiny", TINY, tmp_path / "tables-one", METHODS)[0]
        assert mine.values.equals(theirs.values) and mine.runs == theirs.runs and not mine.empty
    again = ensure_runs("tiny", TINY["datasets"], METHODS, TINY["dims"], TINY["seeds"], results_root=root,
                        data_root=data_root)
    assert "grid: 0 trained, 6 reused, 0 failed" in again.summary()


@pytest.fixture(scope="module")
def straight_longer(tmp_path_factory, data_root) -> Path:
    """An uninterrupted arcface seed-0 run of 3 epochs x 12 steps (what a killed or requeued run must equal)."""
    root = tmp_path_factory.mktemp("straight")
    ensure_runs("tiny", ["glyphs"], ["arcface"], [8], [0], results_root=root, data_root=data_root, overrides=LONGER)
    return runstore.run_dir(root, "tiny", "glyphs", "arcface", 8, 0)


def wait_for_epoch(run: Path, process, epoch: int = 1, timeout: float = 600) -> dict:
    """The claim record of ``run`` once its stage-0 checkpoint holds ``epoch`` epochs."""
    last = run / "checkpoints" / "stage-0" / "last.pth"
    deadline = time.time() + timeout
    while time.time() < deadline and process.poll() is None:
        if last.is_file():
            try:
                if torch.load(last, map_location="cpu", weights_only=False)["epoch"] >= epoch:
                    return claim.read_record(run)
            except Exception:  # caught mid-rename
                pass
        time.sleep(0.05)
    raise AssertionError(f"{last} never reached epoch {epoch}")


def test_a_killed_worker_leaves_its_run_to_another_that_ends_identical(straight_longer, tmp_path, data_root):
    root = tmp_path / "killed"
    args = ["--methods", "arcface", "--seeds", "0", "--workers", "2"] + [a for o in LONGER for a in ("--set", o)]
    process = subprocess.Popen(_grid(*args, root=root, data_root=data_root), cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    run = runstore.run_dir(root, "tiny", "glyphs", "arcface", 8, 0)
    holder = wait_for_epoch(run, process)
    assert holder["pid"] != process.pid, "a worker process, not the parent, holds the run"
    os.kill(holder["pid"], signal.SIGKILL)
    out, err = process.communicate(timeout=600)
    assert process.returncode == 0, err
    assert "grid: 1 trained, 0 reused, 0 failed" in out and "exit code -9" in out
    attempts = claim.read_attempts(run)
    assert [a["pid"] for a in attempts][0] == holder["pid"] and len({a["pid"] for a in attempts}) == 2
    assert (run / "metrics.json").read_bytes() == (straight_longer / "metrics.json").read_bytes()
    assert [r["epoch"] for r in runstore.read_history(run)] == [1, 2, 3]


def test_status_shows_done_running_failed_pending_and_retry_failed_retries(tmp_path, data_root, capsys):
    done = runstore.run_dir(tmp_path, "tiny", "glyphs", "arcface", 8, 0)
    failed = runstore.run_dir(tmp_path, "tiny", "glyphs", "arcface", 8, 1)
    running = runstore.run_dir(tmp_path, "tiny", "glyphs", "pfe-arcface", 8, 0)
    runstore.write_metrics(done, {"infer-glyphs": {"mapr": 0.5}})
    failed.mkdir(parents=True)
    runstore.mark_failed(failed, "loss became nan at stage 0")
    hold = ("import sys, time\nfrom pml_core.experiments import claim\nclaim.acquire(sys.argv[1])\n"
            "print('held', flush=True)\ntime.sleep(600)\n")
    holder = subprocess.Popen([sys.executable, "-c", hold, str(running)], cwd=ROOT, text=True, stdout=subprocess.PIPE,
                              env={**os.environ, claim.WORKER_ENV: "7/9"})
    try:
        assert holder.stdout.readline().strip() == "held"
        assert main(["grid", "--profile", "tiny", "--methods", "arcface", "pfe-arcface", "--status",
                     "--results-root", str(tmp_path)]) == 0
    finally:
        holder.kill()
        holder.wait()
    out = capsys.readouterr().out
    rows = {line.split()[1]: line.split()[2:] for line in out.splitlines() if line.startswith("glyphs ")}
    assert rows == {"arcface": ["1", "0", "1", "0"], "pfe-arcface": ["0", "1", "0", "1"]}, out
    assert f"glyphs/pfe-arcface-8/seed-0  on {claim.socket.gethostname()}:{holder.pid} (worker 7/9" in out
    assert "glyphs/arcface-8/seed-1: loss became nan at stage 0" in out
    assert "total: 4 runs: 1 done, 1 running, 1 failed, 1 pending" in out
    assert not runstore.run_dir(tmp_path, "tiny", "glyphs", "pfe-arcface", 8, 1).exists(), "status creates nothing"

    retry = ["grid", "--profile", "tiny", "--methods", "arcface", "--seeds", "1", "--no-progress",
             "--results-root", str(tmp_path), "--data-root", str(data_root)]
    assert main(retry) == 1  # a plain rerun reports the failed run and trains nothing
    out = capsys.readouterr().out
    assert "0 trained, 0 reused, 1 failed" in out and "earlier attempt; not retried: add --retry-failed" in out
    assert claim.read_attempts(failed) == []
    assert main(retry + ["--retry-failed"]) == 0
    assert "1 trained, 0 reused, 0 failed" in capsys.readouterr().out
    assert runstore.is_complete(failed) and (failed / "failed.previous.json").is_file()
    assert len(claim.read_attempts(failed)) == 1


def test_launcher_options_are_checked(tmp_path, capsys):
    base = ["grid", "--profile", "tiny", "--results-root", str(tmp_path)]
    assert main(base + ["--workers", "0"]) == 2
    assert "--workers must be at least 1" in capsys.readouterr().err
    assert main(base + ["--slurm-partition", "gpu"]) == 2
    assert "need --launcher slurm" in capsys.readouterr().err
    assert main(base + ["--launcher", "slurm", "--launcher-param", "cpus_per_task"]) == 2
    assert "is not KEY=VALUE" in capsys.readouterr().err


def _evaluate(root: Path, data_root: Path, *extra: str) -> list[str]:
    return ["evaluate", "--no-progress", "--logger", "none", "--config", str(ROOT / "configs/base.yaml"),
            "--config", str(ROOT / "configs/datasets/glyphs.yaml"), "--config", str(ROOT / "configs/methods/arcface.yaml"),
            "--config", str(ROOT / "configs/profiles/tiny.yaml"), "--set", "model_params.distribution_params.dim=8",
            "--set", "num_evaluation_seeds=2", "--best-k", "1", *extra, "--train-root", str(root), str(data_root)]


def test_evaluate_with_workers_trains_the_seeds_there_and_aggregates_here(one_worker, tmp_path, data_root, capsys):
    from conftest import tiny_config
    from pml_core.experiments.protocols import aggregate, selection_of
    from pml_core.experiments.runstore import finite_or_none

    root = tmp_path / "evaluate"
    assert main(_evaluate(root, data_root, "--workers", "2")) == 0
    printed = json.loads(capsys.readouterr().out)
    runs = {}
    for seed in (0, 1):
        run = root / f"seed-{seed}"
        assert len(claim.read_attempts(run)) == 1
        assert claim.read_attempts(run)[0]["worker"] in ("1/2", "2/2")
        grid_run = runstore.run_dir(one_worker, "tiny", "glyphs", "arcface", 8, seed)  # the same training
        assert runstore.read_metrics(run) == runstore.read_metrics(grid_run)
        runs[f"seed-{seed}"] = runstore.read_metrics(run)
    dataset, metric, minimize = selection_of(tiny_config())
    expected = aggregate(runs, dataset=dataset, metric=metric, minimize=minimize, best_k=1)
    assert printed == runstore.read_metrics(root) == json.loads(json.dumps(finite_or_none(expected)))


def test_protocol_queues_hold_the_runs_the_protocols_train(tmp_path, monkeypatch):
    from conftest import tiny_config
    from pml_core.experiments import protocols

    cfg = protocols.patched(tiny_config(), {"num_evaluation_seeds": 2, "dataset_params": {"num_validation_folds": 2}})
    trained = []

    def record(run_cfg, path):
        trained.append((path, run_cfg.to_dict()))
        return {"valid": {"mapr": 0.5}}

    monkeypatch.setattr(protocols, "_train", lambda *args: record)
    for kind, count in (("evaluate", 2), ("cval", 2), ("evaluate-cval", 4)):
        trained.clear()
        protocols.run_protocol(kind, cfg, tmp_path / kind, tmp_path)  # in this process, through `record`
        queue = protocols.ProtocolQueue(kind, cfg.to_dict(), tmp_path / kind)
        assert [(run.path, run.config_dict) for run in queue.runs()] == trained and len(trained) == count


def test_submitit_workers_drain_the_slice_and_a_requeued_worker_resumes_exactly(straight_longer, tmp_path,
                                                                                  data_root):
    """Two array workers through submitit's local executor (the Slurm code path, processes here). USR2, what
    Slurm sends before a time limit or on preemption, requeues the holder; the run ends byte-identical."""
    from pml_core.experiments.workers import Launch

    root = tmp_path / "submitit"
    launch = Launch(workers=2, launcher="slurm", cluster="local", timeout_min=60, poll=0.5)
    report = ensure_runs("tiny", ["glyphs"], ["arcface"], [8], [0], results_root=root, data_root=data_root,
                         overrides=LONGER, launch=launch)
    assert report.launch.submitted and len(report.launch.jobs) == 2 and report.pending
    run = runstore.run_dir(root, "tiny", "glyphs", "arcface", 8, 0)

    class Jobs:  # wait_for_epoch's process protocol over both jobs
        def poll(self):
            return 0 if all(job.done() for job in report.launch.jobs) else None

    holder = wait_for_epoch(run, Jobs())
    assert holder["worker"].startswith("slurm ")
    os.kill(holder["pid"], signal.SIGUSR2)
    trained = [path for job in report.launch.jobs for path in job.result()]
    assert trained == [str(run)]
    logs = "".join(job.stdout() or "" for job in report.launch.jobs) + "".join(job.stderr() or "" for job in report.launch.jobs)
    assert "Requeued job" in logs, logs
    attempts = claim.read_attempts(run)
    assert attempts[0]["pid"] == holder["pid"] and len(attempts) == 2
    assert (run / "metrics.json").read_bytes() == (straight_longer / "metrics.json").read_bytes()
    assert [r["epoch"] for r in runstore.read_history(run)] == [1, 2, 3]
