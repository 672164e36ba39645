"""Evaluation: pair sets reuse the embeddings of their base set and give the same metrics."""

import math

import torch

from conftest import tiny_config
from pml_core.data import build_datasets
from pml_core.evaluate import evaluate_model
from pml_core.model import build_model


def test_pair_sets_reuse_base_embeddings_exactly(data_root):
    cfg = tiny_config("pfe-arcface", dim=8)
    from pml_core.config import stage_config

    cfg = stage_config(cfg, 1)  # a Gaussian model: pair confidences too
    datasets = build_datasets(cfg.dataset_params, data_root)
    torch.manual_seed(0)
    model = build_model(cfg.model_params, datasets.train.num_classes)
    tests = datasets.tests
    together, predictions = evaluate_model(model, tests, cfg, torch.device("cpu"), progress=False, keep_predictions=True)
    for name in ("infer-glyphs-pairs", "infer-glyphs-lossy-pairs"):
        alone, alone_predictions = evaluate_model(model, {name: tests[name]}, cfg, torch.device("cpu"), progress=False,
                                                  keep_predictions=True)
        assert together[name].keys() == alone[name].keys()
        for key, value in together[name].items():
            assert math.isclose(value, alone[name][key], rel_tol=1e-6, abs_tol=1e-9) or (math.isnan(value) and math.isnan(alone[name][key])), key
        torch.testing.assert_close(torch.as_tensor(predictions[name]["scores"]),
                                   torch.as_tensor(alone_predictions[name]["scores"]), rtol=1e-5, atol=1e-6)
    assert "confidence_auroc" in together["infer-glyphs-pairs"]
