"""Run-folder claims (pml_core.experiments.claim): exclusive across processes, released by a dead holder,
re-entrant, named in messages; two `train` commands into one folder (a lost race fails clearly)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import ROOT
from pml_core.experiments import claim
from pml_core.utils import config_hash

HOLD = """
import sys, time
from pml_core.experiments import claim
held = claim.acquire(sys.argv[1])
print("held", flush=True)
time.sleep(float(sys.argv[2]))
held.release()
"""


def _holder_process(folder: Path, seconds: float = 600, **env) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(folder), str(seconds)], cwd=ROOT, text=True,
                               stdout=subprocess.PIPE, env={**os.environ, **env})
    assert process.stdout.readline().strip() == "held"
    return process


def test_a_claim_is_exclusive_named_and_freed_when_its_holder_dies(tmp_path):
    folder = tmp_path / "run"
    other = _holder_process(folder, **{claim.WORKER_ENV: "3/4"})
    try:
        assert claim.try_acquire(folder) is None
        record = claim.holder(folder)
        assert record["pid"] == other.pid and record["host"] == socket.gethostname() and record["worker"] == "3/4"
        with pytest.raises(claim.ClaimHeld, match=rf"is being trained by another process: .*:{other.pid} "
                                                   r"\(worker 3/4, since .*heartbeat \d+ s ago\).*--wait"):
            claim.acquire(folder)
        started = time.perf_counter()
        with pytest.raises(claim.ClaimHeld):
            claim.acquire(folder, wait=0.5)
        assert time.perf_counter() - started >= 0.5
    finally:
        other.send_signal(signal.SIGKILL)  # no cleanup runs: the OS drops the lock, claim.json stays behind
        other.wait()
    assert claim.read_record(folder)["pid"] == other.pid, "a dead holder's record is left"
    assert claim.holder(folder) is None, "a record whose lock is free is no claim"
    with claim.acquire(folder) as held:  # taken over
        assert claim.read_record(folder)["pid"] == os.getpid() == held.record["pid"]
    assert not (folder / claim.RECORD_NAME).exists() and claim.holder(folder) is None


def test_waiting_ends_when_the_holder_releases(tmp_path):
    folder = tmp_path / "run"
    other = _holder_process(folder, seconds=1.0)
    started = time.perf_counter()
    with claim.acquire(folder, wait=True):
        assert time.perf_counter() - started > 0.3
    assert other.wait() == 0


def test_claims_are_reentrant_within_a_process(tmp_path):
    folder = tmp_path / "run"
    outer = claim.acquire(folder)
    inner = claim.acquire(folder)  # a grid worker's claim, then train_run's
    assert inner is outer
    inner.release()
    assert claim.holder(folder)["pid"] == os.getpid() and (folder / claim.RECORD_NAME).is_file()
    outer.release()
    assert claim.holder(folder) is None and claim.try_acquire(folder) is not None


def test_the_heartbeat_refreshes_the_record_and_a_silent_holder_reads_stale(tmp_path):
    with claim.acquire(tmp_path / "run", heartbeat=0.1):
        first = claim.read_record(tmp_path / "run")["heartbeat"]
        time.sleep(0.5)
        assert claim.read_record(tmp_path / "run")["heartbeat"] > first
    old = {"host": "node7", "pid": 12, "since": 1000.0, "heartbeat": 1000.0, "heartbeat_every": 60.0}
    assert "node7:12" in claim.describe(old, now=1000.0 + 4 * 3600) and "STALE" in claim.describe(old, now=5000.0)
    assert "STALE" not in claim.describe(old, now=1030.0)


def test_looking_creates_nothing(tmp_path):
    assert claim.holder(tmp_path / "missing") is None and not (tmp_path / "missing").exists()


def test_attempts_are_appended_one_line_each(tmp_path):
    claim.record_attempt(tmp_path, stage=0)
    claim.record_attempt(tmp_path)
    attempts = claim.read_attempts(tmp_path)
    assert [a.get("stage") for a in attempts] == [0, None] and all(a["pid"] == os.getpid() for a in attempts)


def _train(root: Path, data_root: Path, seed: int, *extra: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "pml_core", "train", "--no-progress", "--logger", "none",
               "--config", str(ROOT / "configs/base.yaml"), "--config", str(ROOT / "configs/datasets/glyphs.yaml"),
               "--config", str(ROOT / "configs/methods/arcface.yaml"), "--config", str(ROOT / "configs/profiles/tiny.yaml"),
               "--set", "trainer_params.num_epochs=4", "--set", "trainer_params.max_steps_per_epoch=12",
               "--set", "model_params.distribution_params.dim=8", "--set", f"seed={seed}", *extra,
               "--train-root", str(root), str(data_root)]
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_two_train_commands_into_one_folder_one_trains_the_other_fails_clearly(tmp_path, data_root):
    """Seeds 42 and 43 started together into one folder: one trains; the other fails at once naming the
    holder; a third started with --wait waits for the first and is then refused (another config).
    config.yaml, metrics.json and provenance.json always describe the same run."""
    root = tmp_path / "run"
    first, second = _train(root, data_root, 42), _train(root, data_root, 43)
    deadline = time.time() + 300
    while claim.read_record(root) is None and time.time() < deadline:
        time.sleep(0.05)
    holder = claim.read_record(root)
    assert holder is not None
    waiter = _train(root, data_root, 44, "--wait")
    outcomes = {seed: (p.wait(), *p.communicate()) for seed, p in ((42, first), (43, second), (44, waiter))}
    winners = [seed for seed, (rc, _, _) in outcomes.items() if rc == 0]
    assert len(winners) == 1 and winners[0] in (42, 43), outcomes
    loser = 43 if winners[0] == 42 else 42
    rc, _, err = outcomes[loser]
    assert rc == 2 and err.startswith("error: ") and "Traceback" not in err
    assert f"is being trained by another process: {socket.gethostname()}:{holder['pid']}" in err
    rc, _, err = outcomes[44]
    assert rc == 2 and "already holds a run of another config" in err, err
    saved = yaml.safe_load((root / "config.yaml").read_text())
    assert saved["seed"] == winners[0]
    provenance = json.loads((root / "provenance.json").read_text())
    assert provenance["config_hash"] == config_hash(saved)
    assert json.loads(outcomes[winners[0]][1]) == json.loads((root / "metrics.json").read_text())
    assert len(claim.read_attempts(root)) == 1 and not (root / claim.RECORD_NAME).exists()


def test_a_hopt_trial_on_a_held_folder_stops_the_search_and_leaves_the_folder(tmp_path):
    from pml_core.experiments.grid import run_config_dict
    from pml_core.experiments.hopt import _objective_fn

    raw = run_config_dict("tiny", "glyphs", "arcface", 8, 0)
    other = _holder_process(tmp_path / "trial-0")
    try:
        objective = _objective_fn(raw, tmp_path, tmp_path / "data", cval=False, logger="none", clean=True,
                                  progress=False)
        with pytest.raises(claim.ClaimHeld):  # not a failed (NaN) trial: another search owns that folder
            objective(0, {}, 5)
        assert (tmp_path / "trial-0" / claim.RECORD_NAME).is_file(), "--clean must not delete another's trial"
    finally:
        other.kill()
        other.wait()
