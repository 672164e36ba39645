"""evaluate / cval / evaluate-cval aggregation and the optuna hyper-parameter search."""

from __future__ import annotations

import csv
import math
import subprocess
import sys

import numpy as np
import pytest
import yaml

from conftest import ROOT, tiny_config
from pml_core.config import compose, load_yaml, parse_config
from pml_core.experiments import hopt, protocols, runstore

FAST = ["trainer_params.num_epochs=1", "trainer_params.max_steps_per_epoch=2",
        "dataset_params.add_lossy_testsets=false", "dataset_params.add_verification_testsets=false",
        "dataset_params.transform_params.image_size=16", "num_evaluation_seeds=2",
        "dataset_params.num_validation_folds=2"]
CONFIGS = [ROOT / "configs/base.yaml", ROOT / "configs/datasets/glyphs.yaml", ROOT / "configs/methods/arcface.yaml",
           ROOT / "configs/profiles/tiny.yaml"]


def _config_args() -> list[str]:
    args = []
    for path in CONFIGS:
        args += ["--config", str(path)]
    for override in FAST + ["model_params.distribution_params.dim=8"]:
        args += ["--set", override]
    return args


def test_aggregate_mean_population_std_and_best_k():
    runs = {"seed-0": {"valid": {"mapr": 0.1, "mapr_std": 9.0}, "test": {"r": 1.0, "flag": True}},
            "seed-1": {"valid": {"mapr": 0.3}, "test": {"r": 0.0}},
            "seed-2": {"valid": {"mapr": 0.2}, "test": {"r": None}}}
    result = protocols.aggregate(runs, dataset="valid", metric="mapr", minimize=False, best_k=2)
    assert result["valid"]["mapr"] == pytest.approx(0.2)
    assert result["valid"]["mapr_std"] == pytest.approx(np.std([0.1, 0.3, 0.2]))  # population, per-run _std ignored
    assert result["test"] == {"r": 0.5, "r_std": 0.5}  # null skipped, bool ignored
    assert result["runs"] == {"seed-0": 0.1, "seed-1": 0.3, "seed-2": 0.2}
    assert result["best_k"]["runs"] == ["seed-1", "seed-2"]
    assert result["best_k"]["metrics"]["valid"]["mapr"] == pytest.approx(0.25)
    low = protocols.aggregate(runs, dataset="valid", metric="mapr", minimize=True, best_k=1)
    assert low["best_k"]["runs"] == ["seed-0"]


def test_seeds_and_folds_get_their_config(tmp_path):
    cfg = tiny_config(overrides=FAST)
    seen = {}

    def fake(run_cfg, root):
        seen[root.name] = (run_cfg.seed, run_cfg.dataset_params.validation_fold)
        return {"valid": {"mapr": run_cfg.seed / 10}}

    protocols.evaluate_seeds(cfg, tmp_path / "e", None, from_seed=1, run_fn=fake)
    assert seen == {"seed-1": (1, 0)}
    seen.clear()
    protocols.cross_validate(parse_config({**cfg.to_dict(), "seed": 5}), tmp_path / "c", None, run_fn=fake)
    assert seen == {"fold-0": (5, 0), "fold-1": (6, 1)}
    assert runstore.read_metrics(tmp_path / "c")["valid"]["mapr"] == pytest.approx(0.55)


def test_evaluate_command_aggregates_two_seeds(tmp_path, data_root):
    root = tmp_path / "evaluate"
    subprocess.run([sys.executable, "-m", "pml_core", "evaluate", "--no-progress", "--logger", "none",
                    *_config_args(), "--train-root", str(root), str(data_root)], check=True, cwd=ROOT,
                   capture_output=True)
    runs = [runstore.read_metrics(root / f"seed-{s}") for s in (0, 1)]
    assert [yaml.safe_load((root / f"seed-{s}" / "config.yaml").read_text())["seed"] for s in (0, 1)] == [0, 1]
    aggregated = runstore.read_metrics(root)
    for name in ("valid", "infer-glyphs"):
        for key in ("mapr", "recall@1"):
            values = [run[name][key] for run in runs]
            assert aggregated[name][key] == pytest.approx(np.mean(values))
            assert aggregated[name][f"{key}_std"] == pytest.approx(np.std(values))
    assert set(aggregated["runs"]) == {"seed-0", "seed-1"}
    assert aggregated["best_k"]["k"] == 2


def test_cval_aggregates_two_folds(tmp_path, data_root):
    cfg = tiny_config(overrides=FAST, dim=8)
    metrics = protocols.cross_validate(cfg, tmp_path / "cval", data_root, logger="none", progress=False)
    runs = [runstore.read_metrics(tmp_path / "cval" / f"fold-{i}") for i in (0, 1)]
    assert metrics["valid"]["mapr"] == pytest.approx(np.mean([r["valid"]["mapr"] for r in runs]))
    assert runs[0]["valid"] != runs[1]["valid"]  # other validation classes
    saved = [yaml.safe_load((tmp_path / "cval" / f"fold-{i}" / "config.yaml").read_text()) for i in (0, 1)]
    assert [(s["seed"], s["dataset_params"]["validation_fold"]) for s in saved] == [(0, 0), (1, 1)]


def test_hopt_specs_inject_into_stages_and_best_patch_round_trips():
    raw = compose([*CONFIGS[:2], ROOT / "configs/methods/pfe-arcface.yaml"])
    specs = hopt.search_specs(raw)
    keys = {s.key for s in specs}
    assert {"trainer_params.optimizer_params.lr", "stages.0.model_params.classifier_params.scale"} <= keys
    values = {"trainer_params.optimizer_params.lr": 0.003, "stages.0.model_params.classifier_params.scale": 7.5}
    cfg = hopt.trial_config(raw, values, specs, seed=123)
    assert cfg.seed == 123 and cfg.trainer_params.optimizer_params["lr"] == 0.003
    from pml_core.config import stage_config
    assert stage_config(cfg, 0).model_params.classifier_params["scale"] == 7.5
    patched = parse_config(compose([*CONFIGS[:2], ROOT / "configs/methods/pfe-arcface.yaml",
                                    hopt.best_patch(raw, values, specs)]))
    assert patched.trainer_params.optimizer_params["lr"] == 0.003
    assert stage_config(patched, 0).model_params.classifier_params["scale"] == 7.5
    assert stage_config(patched, 1).resume_prefixes == "_embedder._stem.,_embedder._head."


def test_optuna_suggestions_follow_the_spec_convention():
    import optuna

    spec = {"lr": {"distribution": "log_uniform", "min": math.log(1e-5), "max": math.log(1e-3)},
            "n": {"distribution": "uniform", "min": 1, "max": 4}, "f": {"min": 0.5, "max": 1},
            "c": {"values": ["a", "b"]}}
    specs = hopt.search_specs({"trainer_params": {"_hopt": spec}})
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(20):
        trial = study.ask()
        values = {s.key: hopt._suggest(trial, s) for s in specs}
        assert 1e-5 <= values["trainer_params.lr"] <= 1e-3
        assert isinstance(values["trainer_params.n"], int) and 1 <= values["trainer_params.n"] <= 4
        assert isinstance(values["trainer_params.f"], float)
        assert values["trainer_params.c"] in ("a", "b")
        study.tell(trial, 0.0)
    assert isinstance(study.trials[0].distributions["trainer_params.lr"], optuna.distributions.FloatDistribution)
    assert study.trials[0].distributions["trainer_params.lr"].log


def test_optuna_search_runs_three_trials_and_records_the_best(tmp_path, data_root):
    root = tmp_path / "hopt"
    subprocess.run([sys.executable, "-m", "pml_core", "hopt", "--no-progress", "--logger", "none", "--clean",
                    "--num-trials", "3", *_config_args(), "--train-root", str(root), str(data_root)],
                   check=True, cwd=ROOT, capture_output=True)
    with open(root / "hopt_trials.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["number"] for r in rows] == ["0", "1", "2"] and all(r["state"] == "COMPLETE" for r in rows)
    assert len({r["seed"] for r in rows}) == 3 and all(0 <= int(r["seed"]) <= 65536 for r in rows)
    best = max(rows, key=lambda r: float(r["value"]))  # selection: valid mapr, maximised
    patch = load_yaml(root / "hopt_best.yaml")
    lr = patch["trainer_params"]["_hopt"]["optimizer_params.lr"]
    assert lr == pytest.approx(float(best["trainer_params.optimizer_params.lr"]))
    assert f"trial {best['number']}" in (root / "hopt_best.yaml").read_text()
    cfg = parse_config(compose([*CONFIGS, root / "hopt_best.yaml"]))
    assert cfg.trainer_params.optimizer_params["lr"] == pytest.approx(lr)
    assert not list(root.glob("trial-*"))  # --clean


def test_wandb_sweep_config_and_offline_refusal(monkeypatch, tmp_path):
    from pml_core.errors import ConfigError

    raw = compose(CONFIGS)
    sweep = hopt.sweep_config(raw, "bayes")
    assert sweep["metric"] == {"name": "mapr_epoch/valid", "goal": "maximize"}
    # glyphs' own learning-rate range (configs/datasets/glyphs.yaml: 3e-4 to 0.2, a CNN trained from scratch)
    assert sweep["parameters"]["trainer_params.optimizer_params.lr"] == {"distribution": "log_uniform",
                                                                         "min": -8.11, "max": -1.61}
    assert sweep["parameters"]["dataset_params.batch_size"] == {"value": 32}
    assert "seed" not in sweep["parameters"]
    monkeypatch.setenv("WANDB_MODE", "offline")
    with pytest.raises(ConfigError, match="need a wandb server"):
        hopt.run_wandb_sweep(raw, tmp_path, tmp_path, method="bayes", project="p")


def test_evaluate_cval_nests_folds_in_seeds_and_ignores_fold_stds(tmp_path, monkeypatch):
    cfg = tiny_config(overrides=FAST)
    seen = []

    def fake(run_cfg, root):
        seen.append((root.relative_to(tmp_path).as_posix(), run_cfg.seed, run_cfg.dataset_params.validation_fold))
        return {"valid": {"mapr": run_cfg.seed + run_cfg.dataset_params.validation_fold / 10}}

    monkeypatch.setattr(protocols, "_train", lambda data_root, logger, progress, wait=False: fake)
    result = protocols.evaluate_cval(cfg, tmp_path, None, best_k=1)
    assert seen == [("seed-0/fold-0", 0, 0), ("seed-0/fold-1", 1, 1), ("seed-1/fold-0", 1, 0), ("seed-1/fold-1", 2, 1)]
    assert runstore.read_metrics(tmp_path / "seed-1")["valid"] == {"mapr": pytest.approx(1.55), "mapr_std": pytest.approx(0.55)}
    assert result["valid"]["mapr"] == pytest.approx((0.55 + 1.55) / 2)
    assert result["valid"]["mapr_std"] == pytest.approx(0.5)  # over the seeds' means, not their fold stds
    assert result["best_k"] == {"k": 1, "n": 2, "runs": ["seed-1"],
                                "metrics": {"valid": {"mapr": pytest.approx(1.55), "mapr_std": 0.0}}}


def test_hopt_cval_trials_are_cross_validations_and_the_best_is_recorded(tmp_path, monkeypatch):
    calls = []

    def fake_cval(cfg, root, data_root, **kwargs):
        lr = cfg.trainer_params.optimizer_params["lr"]
        calls.append((root.name, cfg.seed))
        root.mkdir(parents=True)
        return {"valid": {"mapr": -abs(math.log(lr) - math.log(1e-4))}}  # best near lr = 1e-4

    monkeypatch.setattr(protocols, "cross_validate", fake_cval)
    raw = compose(CONFIGS)
    best = hopt.run_optuna(raw, tmp_path, None, cval=True, num_trials=4, clean=True, progress=False)
    assert [name for name, _ in calls] == ["trial-0", "trial-1", "trial-2", "trial-3"]
    assert [seed for _, seed in calls] == [hopt.trial_seed(raw.get("seed", 42), n) for n in range(4)]
    with open(tmp_path / "hopt_trials.csv") as handle:
        rows = list(csv.DictReader(handle))
    values = [float(r["value"]) for r in rows]
    assert best["value"] == max(values) and best["number"] == int(np.argmax(values))
    patch = load_yaml(tmp_path / "hopt_best.yaml")
    assert patch["trainer_params"]["_hopt"]["optimizer_params.lr"] == pytest.approx(best["params"]["trainer_params.optimizer_params.lr"])
    assert not list(tmp_path.glob("trial-*"))
