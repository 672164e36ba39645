"""Config composition and validation."""

import subprocess
import sys
from pathlib import Path

import pytest

from pml_core.config import (Config, apply_hopt_constants, check_params, compose, hopt_specs, merge, parse_config,
                             parse_override, stage_config)
from pml_core.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def test_defaults_follow_the_reference():
    cfg = parse_config({})
    assert cfg.dataset_params.batch_size == 256 and cfg.dataset_params.samples_per_class == 4
    assert cfg.trainer_params.num_epochs == 16 and cfg.trainer_params.gradient_clipping == 5
    assert cfg.model_params.distribution_type == "dirac" and cfg.model_params.scorer_type == "dot"
    assert cfg.dataset_params.lossy_params.center_crop_range == [0.25, 1.0]
    assert cfg.seed == 42 and cfg.stage_resume == "best"


def test_unknown_key_names_path_and_closest_key():
    with pytest.raises(ConfigError, match=r"trainer_params\.num_epoch'.*trainer_params\.num_epochs"):
        parse_config({"trainer_params": {"num_epoch": 3}})
    with pytest.raises(ConfigError, match=r"dataset_params\.augmenter_params\.random_flip_prob.*random_flip_probability"):
        parse_config({"dataset_params": {"augmenter_params": {"random_flip_prob": 0.1}}})


def test_wrong_type_names_path_and_expected_type():
    with pytest.raises(ConfigError, match=r"trainer_params\.num_epochs: expected int"):
        parse_config({"trainer_params": {"num_epochs": "ten"}})
    with pytest.raises(ConfigError, match=r"fp16: expected bool"):
        parse_config({"fp16": 1})
    with pytest.raises(ConfigError, match=r"stage_resume: 'bset' is not one of .*did you mean 'best'"):
        parse_config({"stage_resume": "bset"})
    with pytest.raises(ConfigError, match=r"dataset_params\.transform_params\.mean\.1: expected float"):
        parse_config({"dataset_params": {"transform_params": {"mean": [0.5, "x", 0.5]}}})


def test_int_is_accepted_for_float_and_converted():
    cfg = parse_config({"trainer_params": {"early_stop_epsilon": 1}})
    assert isinstance(cfg.trainer_params.early_stop_epsilon, float)


def test_merge_is_deep_and_lists_replace():
    base = {"a": {"b": 1, "c": [1, 2, 3]}, "d": 4}
    merged = merge(base, {"a": {"c": [9]}, "e": 5})
    assert merged == {"a": {"b": 1, "c": [9]}, "d": 4, "e": 5}
    assert base["a"]["c"] == [1, 2, 3]  # inputs untouched


def test_lists_of_mappings_merge_index_by_index():
    # docs/reference.md §11 (tests/test_config.py of the reference): c: [{d:4},{e:5}] + [{}, {g:7}, {h:8}]
    merged = merge({"c": [{"d": 4}, {"e": 5}]}, {"c": [{}, {"g": 7}, {"h": 8}]})
    assert merged == {"c": [{"d": 4}, {"e": 5, "g": 7}, {"h": 8}]}
    stages = merge({"stages": [{"x": {"a": 1, "b": 2}}, {"y": 3}]}, {"stages": [{"x": {"b": 5}}]})
    assert stages == {"stages": [{"x": {"a": 1, "b": 5}}, {"y": 3}]}


def test_replace_drops_the_keys_a_merge_would_keep(tmp_path):
    sgd = {"trainer_params": {"optimizer_type": "sgd", "optimizer_params": {"lr": 0.05, "momentum": 0.9}}}
    adam = {"trainer_params": {"optimizer_type": "adam", "optimizer_params": {"_replace": True, "lr": 0.001}}}
    merged = merge(sgd, adam)
    assert merged["trainer_params"]["optimizer_params"] == {"lr": 0.001}
    cfg = parse_config(merged)  # Adam would refuse SGD's momentum
    assert cfg.trainer_params.optimizer_type == "adam"
    assert merge(sgd, {"trainer_params": {"optimizer_params": {"_replace": False, "lr": 1}}}) == {
        "trainer_params": {"optimizer_type": "sgd", "optimizer_params": {"lr": 1, "momentum": 0.9}}}
    (tmp_path / "a.yaml").write_text("trainer_params:\n  optimizer_params: {lr: 0.1, momentum: 0.9}\n")
    raw = compose([tmp_path / "a.yaml"], ["trainer_params.optimizer_params={_replace: true, lr: 0.2}"])
    assert raw["trainer_params"]["optimizer_params"] == {"lr": 0.2}
    with pytest.raises(ConfigError, match="_replace must be true or false"):
        merge(sgd, {"trainer_params": {"optimizer_params": {"_replace": "yes"}}})


def test_compose_files_then_overrides(tmp_path):
    (tmp_path / "a.yaml").write_text("trainer_params:\n  num_epochs: 3\n  optimizer_type: adam\n")
    (tmp_path / "b.yaml").write_text("trainer_params:\n  num_epochs: 5\n")
    raw = compose([tmp_path / "a.yaml", tmp_path / "b.yaml"], ["trainer_params.num_epochs=7", "seed=3"])
    cfg = parse_config(raw)
    assert cfg.trainer_params.num_epochs == 7 and cfg.trainer_params.optimizer_type == "adam" and cfg.seed == 3


def test_override_values_are_yaml():
    assert parse_override("a.b=[1, 2]") == {"a": {"b": [1, 2]}}
    assert parse_override("x=null") == {"x": None}
    with pytest.raises(ConfigError, match="key.path=value"):
        parse_override("novalue")


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        compose([tmp_path / "nope.yaml"])
    (tmp_path / "bad.yaml").write_text("a: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        compose([tmp_path / "bad.yaml"])
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        compose([tmp_path / "list.yaml"])


def test_hopt_constants_override_and_specs_are_collected():
    raw = {"trainer_params": {"num_epochs": 1, "_hopt": {"num_epochs": 5, "optimizer_params.lr": {"distribution": "log_uniform", "min": -11.5, "max": -6.9}}}}
    assert apply_hopt_constants(raw) == {"trainer_params": {"num_epochs": 5}}
    assert hopt_specs(raw) == {"trainer_params.optimizer_params.lr": {"distribution": "log_uniform", "min": -11.5, "max": -6.9}}
    assert parse_config(raw).trainer_params.num_epochs == 5


def test_stages_patch_the_base_and_are_validated():
    raw = {"seed": 1, "trainer_params": {"num_epochs": 2},
           "stages": [{}, {"trainer_params": {"num_epochs": 4}, "resume_prefixes": "_embedder."}]}
    cfg = parse_config(raw)
    assert stage_config(cfg, 0).trainer_params.num_epochs == 2
    second = stage_config(cfg, 1)
    assert second.trainer_params.num_epochs == 4 and second.resume_prefixes == "_embedder." and second.seed == 1
    with pytest.raises(ConfigError, match=r"stages\.1.*unknown config key 'trainer_params\.num_epoc'"):
        parse_config({"stages": [{}, {"trainer_params": {"num_epoc": 4}}]})
    with pytest.raises(ConfigError, match=r"stages\.0\.fp16"):
        parse_config({"stages": [{"fp16": True}]})


def test_component_params_checked_against_declared_defaults():
    defaults = {"scale": 64.0, "margin": 0.5, "sample": True}
    assert check_params("classifier", "arcface", {"margin": 0.2}, defaults, "p") == {"scale": 64.0, "margin": 0.2, "sample": True}
    assert check_params("classifier", "arcface", {"scale": "trainable"}, defaults, "p")["scale"] == "trainable"
    with pytest.raises(ConfigError, match=r"unknown key 'p\.margn' for classifier 'arcface'; did you mean 'p\.margin'"):
        check_params("classifier", "arcface", {"margn": 0.2}, defaults, "p")
    with pytest.raises(ConfigError, match=r"p\.sample: expected bool"):
        check_params("classifier", "arcface", {"sample": "yes"}, defaults, "p")


def test_config_round_trips_through_yaml():
    import yaml

    cfg = parse_config({"trainer_params": {"num_epochs": 3}, "model_params": {"classifier_type": None}})
    again = parse_config(yaml.safe_load(yaml.safe_dump(cfg.to_dict())))
    assert again == cfg and isinstance(again, Config)


def test_misspelled_key_fails_fast_from_the_command_line(tmp_path):
    config = tmp_path / "typo.yaml"
    config.write_text("trainer_params:\n  num_epochs: 1\n  optimiser_type: sgd\n")
    result = subprocess.run([sys.executable, "-m", "pml_core", "train", "--config", str(config), "--train-root",
                             str(tmp_path / "run"), str(tmp_path / "data")], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 2
    assert "trainer_params.optimiser_type" in result.stderr and "trainer_params.optimizer_type" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists()
