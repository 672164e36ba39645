"""The smoke grid's equal-budget rule (configs/grids/smoke.yaml, `budget`) holds for every composed run config."""

from pathlib import Path

import pytest
import yaml

from pml_core.config import num_stages, parse_config, stage_config
from pml_core.errors import ConfigError
from pml_core.experiments.grid import profile_grid, run_config_dict, stage_epochs

GRID = profile_grid("smoke")
METHODS = list(dict.fromkeys(GRID["methods"] + GRID.get("variants", [])))
PROFILE = yaml.safe_load((Path(__file__).resolve().parents[1] / "configs" / "profiles" / "smoke.yaml").read_text())
TOTAL = PROFILE["trainer_params"]["num_epochs"]


def _stages(method, seed=0):
    cfg = parse_config(run_config_dict("smoke", "glyphs", method, GRID["dims"][0], seed))
    return [stage_config(cfg, i) for i in range(num_stages(cfg))]


def _data_budget(stage):
    """Everything that decides how many and which batches an epoch trains on."""
    d, t = stage.dataset_params, stage.trainer_params
    return (d.batch_size, d.samples_per_class, d.uniform_sampling, d.train_repeat, d.validation_fold,
            d.num_validation_folds, repr(d.glyphs_params), t.max_steps_per_epoch, t.early_stop_patience,
            t.selection_dataset, t.selection_metric)


def test_budget_text_states_the_rule():
    text = GRID["budget"]
    assert isinstance(text, str) and len(text.split(".")) <= 3  # one or two sentences (a trailing period)
    split = GRID["stage_epochs"]
    assert sum(split) == TOTAL
    for number in (TOTAL, *split):
        assert f"{number}" in text


@pytest.mark.parametrize("method", METHODS)
def test_every_run_trains_the_same_epochs_on_the_same_batches(method):
    stages = _stages(method)
    epochs = [s.trainer_params.num_epochs for s in stages]
    assert sum(epochs) == TOTAL, (method, epochs)
    if len(stages) > 1:
        assert epochs == GRID["stage_epochs"]
    reference = _data_budget(_stages("arcface")[0])
    for stage in stages:
        assert _data_budget(stage) == reference, method


def test_overrides_still_win_and_other_profiles_have_no_split():
    stages = _stages("pfe-arcface")
    assert [s.trainer_params.num_epochs for s in stages] == GRID["stage_epochs"]
    cfg = parse_config(run_config_dict("smoke", "glyphs", "pfe-arcface", 128, 0,
                                       ["stages=[{trainer_params: {num_epochs: 1}}, {trainer_params: {num_epochs: 2}}]"]))
    assert [stage_config(cfg, i).trainer_params.num_epochs for i in range(2)] == [1, 2]
    assert stage_epochs("tiny", 2) is None and stage_epochs("smoke", 1) is None


def test_bad_stage_split_is_a_config_error(tmp_path):
    for name in ("base.yaml",):
        (tmp_path / name).write_text("{}\n")
    for folder in ("datasets", "methods", "profiles", "grids"):
        (tmp_path / folder).mkdir()
    (tmp_path / "grids" / "p.yaml").write_text("stage_epochs: [3, 2, 1]\n")
    with pytest.raises(ConfigError, match="stage_epochs"):
        stage_epochs("p", 2, tmp_path)
    (tmp_path / "grids" / "p.yaml").write_text("stage_epochs: [3, two]\n")
    with pytest.raises(ConfigError, match="stage_epochs"):
        stage_epochs("p", 2, tmp_path)


def test_pfe_and_scf_share_one_stage_0_per_seed():
    """PFE, SCF and their variants take ArcFace's tuned values, so their stage 0 is one and the same run: the
    grid trains it once per seed and the others reuse its checkpoints (`grid.reuse_first_stage`)."""
    from pml_core.config import resolved_dict

    family = [m for m in METHODS if m.startswith(("pfe-", "scl-"))]
    assert len(family) >= 4
    stage0 = {m: resolved_dict(_stages(m, seed=1)[0]) for m in family}
    assert all(config == stage0[family[0]] for config in stage0.values())
    dul = [m for m in METHODS if m.startswith("dul-reg-")]
    assert resolved_dict(_stages(dul[0])[0]) == resolved_dict(_stages(dul[1])[0])
