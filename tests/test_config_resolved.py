"""A run folder's config.yaml is fully resolved: every value the run uses, the distribution's dim included,
and parsing it back gives the same run (every stage)."""

from __future__ import annotations

import yaml

from pml_core.config import dump_yaml, num_stages, parse_config, resolved_config, resolved_dict, stage_config
from pml_core.experiments.grid import available_methods, run_config_dict


def _stage_configs(cfg) -> list[dict]:
    return [resolved_dict(stage_config(cfg, index)) for index in range(num_stages(cfg))]


def test_single_stage_config_spells_out_component_defaults():
    cfg = parse_config({"model_params": {"distribution_params": {"spherical": True}, "classifier_type": "arcface",
                                         "classifier_params": {"margin": 0.2}},
                        "trainer_params": {"optimizer_params": {"lr": 0.1}}})
    written = resolved_config(cfg)
    assert written["model_params"]["distribution_params"] == {"dim": 512, "spherical": True}
    assert written["model_params"]["classifier_params"] == {"sample": True, "scale": 64.0, "margin": 0.2}
    assert written["trainer_params"]["optimizer_params"]["lr"] == 0.1
    assert "momentum" in written["trainer_params"]["optimizer_params"]  # sgd's defaults appear
    assert cfg.to_dict()["model_params"]["distribution_params"] == {"spherical": True}  # the input is unchanged


def test_a_stage_that_changes_a_component_type_gets_its_own_complete_params():
    cfg = parse_config(run_config_dict("tiny", "glyphs", "pfe-arcface", 16, 0))
    written = resolved_config(cfg)
    first, second = written["stages"]
    assert first["model_params"]["distribution_params"] == {"dim": 16, "spherical": True}
    assert second["model_params"]["distribution_params"]["dim"] == 16
    assert second["model_params"]["distribution_params"]["covariance"] == "spherical"  # gmm's default
    assert first["model_params"]["classifier_params"]["sample"] is True  # arcface's default
    assert "classifier_params" not in second["model_params"]  # classifier_type: null builds none


def test_every_method_config_round_trips():
    for method in available_methods():
        cfg = parse_config(run_config_dict("paper", "cub200", method, 128, 0))
        text = dump_yaml(resolved_config(cfg))
        back = parse_config(yaml.safe_load(text))
        assert _stage_configs(back) == _stage_configs(cfg), method
        assert dump_yaml(resolved_config(back)) == text, method  # resolving again changes nothing
        for stage in _stage_configs(back):
            assert stage["model_params"]["distribution_params"]["dim"] == 128, method
