"""Classification metric keys do what they say (docs/reference.md §6.1): `accuracy` and `scores`
on the train set and on closed-set evaluation sets, the `test_classification_metrics` list honoured, the
reference's defaults, and a clear error where a metric cannot be computed."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from conftest import tiny_config
from pml_core.config import ModelParams, parse_config
from pml_core.data import build_datasets
from pml_core.data.base import ArrayDataset
from pml_core.errors import ConfigError
from pml_core.evaluate import classification_metric_names, classifier_metrics, evaluate_model
from pml_core.experiments import runstore
from pml_core.experiments.run import train_run
from pml_core.metrics.classification import ClassificationAccumulator
from pml_core.model import build_model


def _vector_model(num_classes=5, dim=4, classifier="linear"):
    torch.manual_seed(0)
    params = ModelParams(distribution_type="dirac", distribution_params={"dim": dim}, embedder_type="identity",
                         embedder_params={"head_normalize": False}, scorer_type="dot", classifier_type=classifier)
    return build_model(params, num_classes=num_classes)


def test_accumulator_over_batches_equals_the_whole_set():
    rng = np.random.default_rng(0)
    logits, labels, scores = rng.normal(size=(50, 7)), rng.integers(0, 7, 50), rng.normal(size=50)
    accumulator = ClassificationAccumulator(accuracy=True, scores=True)
    for start in range(0, 50, 16):
        part = slice(start, start + 16)
        accumulator.update(torch.as_tensor(labels[part]), logits=torch.as_tensor(logits[part]),
                           positive_scores=torch.as_tensor(scores[part]))
    out = accumulator.compute()
    assert out["accuracy01"] == pytest.approx(np.mean(logits.argmax(1) == labels), abs=1e-12)
    assert out["positive_scores/mean"] == pytest.approx(scores.mean(), abs=1e-6)
    assert out["positive_scores/std"] == pytest.approx(scores.std(ddof=1), abs=1e-6)


def test_classifier_metrics_match_a_numpy_oracle():
    model = _vector_model()
    x = torch.randn(37, 4)
    labels = torch.randint(0, 5, (37,))
    out = classifier_metrics(model, x, labels, ["accuracy", "scores"], chunk=10)
    w, b = model.classifier.weight.detach().numpy(), model.classifier.bias.detach().numpy()
    logits = x.numpy() @ w.T + b
    positive = (x.numpy() * w[labels.numpy()]).sum(1)  # the dot scorer against the class's row
    assert out["accuracy01"] == pytest.approx(np.mean(logits.argmax(1) == labels.numpy()), abs=1e-12)
    assert out["positive_scores/mean"] == pytest.approx(positive.mean(), abs=1e-5)
    assert out["positive_scores/std"] == pytest.approx(positive.std(ddof=1), abs=1e-5)


def _cfg(*overrides):
    return parse_config({"dataset_params": {"name": "glyphs"}, "metrics_params": dict(overrides)})


def test_reference_defaults_of_the_metric_lists():
    model, bare = _vector_model(), _vector_model(classifier=None)
    open_set, closed_set = SimpleNamespace(openset=True), SimpleNamespace(openset=False)
    cfg = _cfg()
    assert classification_metric_names(cfg, "train", open_set, model) == []
    assert classification_metric_names(cfg, "test", open_set, model) == ["nearest"]
    assert classification_metric_names(cfg, "train", closed_set, model) == ["accuracy"]
    assert classification_metric_names(cfg, "test", closed_set, model) == ["accuracy"]
    assert classification_metric_names(cfg, "test", closed_set, bare) == []  # no logits: skipped, as there


@pytest.mark.parametrize("split, names, openset, classifier, message", [
    ("test", ["accuracy"], True, "linear", r"test_classification_metrics: 'accuracy' needs closed-set data"),
    ("test", ["scores"], True, "linear", r"'scores' needs closed-set data"),
    ("train", ["accuracy"], True, None, r"train_classification_metrics: 'accuracy' needs a classifier"),
    ("train", ["scores"], True, "spe", r"'scores' needs a classifier whose class matrix holds distribution"),
])
def test_metrics_that_cannot_be_computed_are_config_errors(split, names, openset, classifier, message):
    if classifier == "spe":
        params = ModelParams(distribution_type="gmm", distribution_params={"dim": 4}, embedder_type="identity",
                             embedder_params={"head_normalize": False}, scorer_type="mls", classifier_type="spe")
        model = build_model(params, num_classes=3)
    else:
        model = _vector_model(classifier=classifier)
    cfg = _cfg((f"{split}_classification_metrics", names))
    with pytest.raises(ConfigError, match=message):
        classification_metric_names(cfg, split, SimpleNamespace(openset=openset), model)


@pytest.fixture(scope="module")
def glyph_sets(data_root):
    cfg = tiny_config()
    datasets = build_datasets(cfg.dataset_params, data_root)
    torch.manual_seed(0)
    model = build_model(cfg.model_params, datasets.train.num_classes)
    return cfg, datasets, model


def test_the_test_metric_list_is_honoured(glyph_sets):
    cfg, datasets, model = glyph_sets
    sets = {name: datasets.tests[name] for name in ("infer-glyphs", "infer-glyphs-lossy", "infer-glyphs-pairs")}
    device = torch.device("cpu")
    full, _ = evaluate_model(model, sets, cfg, device, progress=False)  # base.yaml: [nearest, quality]
    assert "mapr" in full["infer-glyphs"] and "auc" in full["infer-glyphs-pairs"]
    for names, expected in (([], set()), (["nearest"], set(full["infer-glyphs"]))):
        cfg_names = parse_config({**cfg.to_dict(), "metrics_params": {
            **cfg.to_dict()["metrics_params"], "test_classification_metrics": names}})
        out, _ = evaluate_model(model, sets, cfg_names, device, progress=False)
        assert set(out["infer-glyphs"]) == expected
        assert set(out["infer-glyphs-pairs"]) == set(full["infer-glyphs-pairs"])  # pairs: verification metrics


def test_accuracy_on_a_closed_set_evaluation_set(glyph_sets):
    cfg, datasets, model = glyph_sets
    train = datasets.train  # closed-set data: evaluation images of the training classes
    closed = ArrayDataset(np.stack([train.image(i) for i in range(64)]), np.asarray(train.labels)[:64], openset=False)
    raw = cfg.to_dict()
    raw["metrics_params"]["test_classification_metrics"] = ["accuracy", "scores"]
    cfg = parse_config(raw)
    out, _ = evaluate_model(model, {"closed": closed}, cfg, torch.device("cpu"), progress=False)
    model.eval()
    with torch.no_grad():
        params = torch.cat([model.embed(torch.as_tensor(batch[0])) for batch in _eval_batches(closed, cfg)])
        labels = torch.as_tensor(closed.labels)
        expected = float((model.classify(params).argmax(1) == labels).double().mean())
    assert set(out["closed"]) == {"accuracy01", "positive_scores/mean", "positive_scores/std"}
    assert out["closed"]["accuracy01"] == pytest.approx(expected, abs=1e-12)


def _eval_batches(dataset, cfg):
    from pml_core.data import build_eval_loader

    return build_eval_loader(dataset, cfg.dataset_params)


def test_train_metrics_reach_the_history(tmp_path, data_root):
    cfg = tiny_config(overrides=["metrics_params.train_classification_metrics=[accuracy, scores]"])
    train_run(cfg, tmp_path / "run", data_root, logger="none", progress=False)
    history = runstore.read_history(tmp_path / "run")
    for row in history:
        assert 0.0 <= row["train/accuracy01"] <= 1.0
        assert math.isfinite(row["train/positive_scores/mean"]) and row["train/positive_scores/std"] > 0


def test_an_impossible_metric_fails_before_training(tmp_path, data_root):
    cfg = tiny_config(overrides=["metrics_params.test_classification_metrics=[nearest, accuracy]"])
    with pytest.raises(ConfigError, match=r"'accuracy' needs closed-set data .* but dataset 'glyphs' is open-set"):
        train_run(cfg, tmp_path / "run", data_root, logger="none", progress=False)
    assert not (tmp_path / "run" / "checkpoints").exists()
