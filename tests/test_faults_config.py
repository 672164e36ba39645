"""Configs under bad input: every float form parses, text where a number belongs fails at validation,
value ranges, device names, keys that would be silent no-ops."""

from __future__ import annotations

import math

import pytest
import yaml

from conftest import ROOT
from pml_core.cli import main
from pml_core.config import compose, load_yaml, parse_config, parse_override, parse_yaml
from pml_core.errors import ConfigError

FLOATS = {"1e-3": 1e-3, "1e+6": 1e6, "1.0e6": 1e6, ".5": 0.5, "-1E-4": -1e-4, "1.5": 1.5, "+2.5e-2": 0.025,
          "3.": 3.0, ".inf": math.inf, "-.inf": -math.inf}
INTS = {"10": 10, "-3": -3, "+5": 5, "010": 10, "1_000": 1000, "0x1f": 31, "0o17": 15}
BOOLS = {"true": True, "True": True, "false": False, "FALSE": False, "yes": True, "no": False}
NULLS = ("null", "~", "None", "Null", "")
TEXTS = ("1:30", "1e", "e5", "1.2.3", "abc", "nan")


@pytest.mark.parametrize("text, value", [*FLOATS.items(), *INTS.items(), *BOOLS.items()])
def test_set_parses_every_number_and_bool_form(text, value):
    parsed = parse_override(f"trainer_params.optimizer_params.lr={text}")["trainer_params"]["optimizer_params"]["lr"]
    assert parsed == value and type(parsed) is type(value)


@pytest.mark.parametrize("text", NULLS)
def test_set_parses_null_forms(text):
    assert parse_override(f"trainer_params.early_stop_patience={text}") == {"trainer_params": {"early_stop_patience": None}}


@pytest.mark.parametrize("text", TEXTS)
def test_other_scalars_stay_text(text):
    assert parse_yaml(text) == text


def test_yaml_files_parse_every_float_form(tmp_path):
    lines = [f"f{i}: {text}" for i, text in enumerate(FLOATS)]
    (tmp_path / "c.yaml").write_text("\n".join(lines) + "\nnested: {lr: 1e-3, list: [1e-5, 2.0e+3]}\n")
    data = load_yaml(tmp_path / "c.yaml")
    assert [data[f"f{i}"] for i in range(len(FLOATS))] == list(FLOATS.values())
    assert data["nested"] == {"lr": 1e-3, "list": [1e-5, 2000.0]}


def test_lr_in_exponent_form_reaches_the_optimizer_as_a_float():
    cfg = parse_config(compose([ROOT / "configs/base.yaml", ROOT / "configs/datasets/glyphs.yaml"],
                               ["trainer_params.optimizer_params.lr=1e-3", "trainer_params.early_stop_epsilon=1e-4"]))
    assert cfg.trainer_params.optimizer_params["lr"] == 1e-3 and cfg.trainer_params.early_stop_epsilon == 1e-4


@pytest.mark.parametrize("override, key", [
    ("trainer_params.optimizer_params.lr='1e-3'", "trainer_params.optimizer_params.lr"),
    ("trainer_params.optimizer_params.lr=fast", "trainer_params.optimizer_params.lr"),
    ("trainer_params.scheduler_params.gamma=half", "trainer_params.scheduler_params.gamma"),
    ("model_params.classifier_params.margin=wide", "model_params.classifier_params.margin"),
    ("trainer_params.early_stop_epsilon=small", "trainer_params.early_stop_epsilon"),
    ("trainer_params.num_epochs=2.5", "trainer_params.num_epochs"),
])
def test_text_where_a_number_belongs_fails_at_validation_naming_the_key(override, key):
    raw = compose([ROOT / "configs/base.yaml", ROOT / "configs/datasets/glyphs.yaml",
                   ROOT / "configs/methods/arcface.yaml"], [override])
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        parse_config(raw)


def test_number_words_stay_allowed():
    raw = compose([ROOT / "configs/base.yaml", ROOT / "configs/datasets/glyphs.yaml",
                   ROOT / "configs/methods/arcface.yaml"], ["model_params.classifier_params.scale=trainable"])
    assert parse_config(raw).model_params.classifier_params["scale"] == "trainable"


def test_malformed_override_is_a_one_line_config_error(tmp_path, capsys):
    with pytest.raises(ConfigError, match=r"--set 'trainer_params.num_epochs=\[1'.*not valid YAML"):
        parse_override("trainer_params.num_epochs=[1")
    assert main(["train", "--config", str(ROOT / "configs/base.yaml"), "--set", "trainer_params.num_epochs=[1",
                 "--train-root", str(tmp_path / "r"), str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --set") and "\n" not in err
    (tmp_path / "bad.yaml").write_text("a: [1\n")
    with pytest.raises(ConfigError, match="bad.yaml is not valid YAML"):
        load_yaml(tmp_path / "bad.yaml")


def _glyphs(*overrides: str):
    return compose([ROOT / "configs/base.yaml", ROOT / "configs/datasets/glyphs.yaml",
                    ROOT / "configs/methods/arcface.yaml", ROOT / "configs/profiles/tiny.yaml"], list(overrides))


@pytest.mark.parametrize("override, message", [
    ("dataset_params.batch_size=0", r"dataset_params\.batch_size must be >= 1, got 0"),
    ("trainer_params.num_epochs=-1", r"trainer_params\.num_epochs must be >= 0, got -1"),
    ("dataset_params.samples_per_class=0", r"dataset_params\.samples_per_class must be >= 1"),
    ("metrics_params.nearest_params.recall_k_values=[1, 0]", r"recall_k_values must be >= 1"),
    ("metrics_params.nearest_params.num_filter_out_bins=-1", r"num_filter_out_bins must be >= 0"),
    ("dataset_params.validation_fold=4", r"validation_fold must be below num_validation_folds \(4\)"),
    ("metrics_params.verification_metrics_params.fpr=2", r"fpr must lie in \(0, 1\)"),
    ("trainer_params.early_stop_patience=0", r"early_stop_patience must be >= 1"),
])
def test_out_of_range_values_are_config_errors(override, message):
    with pytest.raises(ConfigError, match=message):
        parse_config(_glyphs(override))


def test_out_of_range_values_in_a_stage_are_config_errors():
    raw = _glyphs()
    raw["stages"] = [{}, {"trainer_params": {"num_epochs": -2}}]
    with pytest.raises(ConfigError, match=r"in stages\.1: trainer_params\.num_epochs must be >= 0"):
        parse_config(raw)


@pytest.mark.parametrize("device, message", [("gpu", r"'gpu' is not a device name \(a GPU is 'cuda'"),
                                             ("cuda0", "not a device name"), ("tpu", "not a device name")])
def test_device_names_are_checked_at_validation(device, message):
    with pytest.raises(ConfigError, match=message):
        parse_config(_glyphs(f"device={device}"))


def test_cuda_without_a_gpu_is_a_config_error(monkeypatch, tmp_path, capsys):
    import torch

    from pml_core.utils import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for name in ("cuda", "cuda:1"):
        with pytest.raises(ConfigError, match=rf"device '{name}': torch sees no CUDA GPU.*device=cpu"):
            resolve_device(name)
    assert resolve_device("auto").type == "cpu"
    args = ["train", "--no-progress", "--logger", "none", "--train-root", str(tmp_path / "r"), str(tmp_path)]
    for name in ("configs/base.yaml", "configs/datasets/glyphs.yaml", "configs/methods/arcface.yaml",
                 "configs/profiles/tiny.yaml"):
        args[1:1] = ["--config", str(ROOT / name)]
    assert main([*args, "--set", "device=cuda"]) == 2
    assert "torch sees no CUDA GPU" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()  # refused before the run folder is touched
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(ConfigError, match=r"device 'cuda:3': this machine has 1 CUDA GPU"):
        resolve_device("cuda:3")


@pytest.mark.parametrize("override, key", [
    ("dataset_params.preload=true", "dataset_params.preload"),
    ("metrics_params.verification_metrics_params.roc_curve_dump_dir=roc", "roc_curve_dump_dir"),
    ("amp_head=true", "amp_head"),
    ("trainer_params.use_gradient_normalizer=true", "use_gradient_normalizer"),
    ("trainer_params.gradient_normalizer_params={clip: 0.01}", "gradient_normalizer_params"),
    ("trainer_params.variance_scheduler_type=exponential", "variance_scheduler_type"),
    ("trainer_params.variance_scheduler_params={min_variance: 0.01}", "variance_scheduler_params"),
    ("metrics_params.nearest_params.prefetch_factor=4", "prefetch_factor"),
])
def test_keys_the_kit_does_not_implement_are_rejected_by_name(override, key):
    with pytest.raises(ConfigError, match=rf"{key.replace('.', '[.]')} is not supported: .*remove the key"):
        parse_config(_glyphs(override))


@pytest.mark.parametrize("key, value, message", [
    ("test", "[nearest, accurcy]", r"unknown metric 'accurcy' \(did you mean 'accuracy'\?\)"),
    ("train", "[nearest]", r"train_classification_metrics: unknown metric 'nearest'.*valid: accuracy, scores"),
])
def test_classification_metric_names_are_checked(key, value, message):
    with pytest.raises(ConfigError, match=message):
        parse_config(_glyphs(f"metrics_params.{key}_classification_metrics={value}"))


def test_python_tags_in_a_config_run_nothing(tmp_path):
    marker = tmp_path / "pwned"
    (tmp_path / "evil.yaml").write_text(f"seed: !!python/object/apply:os.system ['touch {marker}']\n")
    with pytest.raises(ConfigError, match="evil.yaml is not valid YAML"):
        load_yaml(tmp_path / "evil.yaml")
    assert not marker.exists()


def test_run_folders_and_grid_files_are_read_with_the_same_loader(tmp_path):
    from pml_core.experiments.explore import load_run_config
    from pml_core.experiments.grid import profile_grid

    raw = _glyphs()
    raw["trainer_params"]["optimizer_params"]["lr"] = "LR"
    text = yaml.safe_dump(raw).replace("lr: LR", "lr: 1e-3")
    (tmp_path / "config.yaml").write_text(text)
    assert load_run_config(tmp_path).trainer_params.optimizer_params["lr"] == 1e-3
    assert isinstance(profile_grid("tiny"), dict)
