"""``trace-embedder``: the exported embedder (TorchScript, torch.export) gives the checkpoint's distribution parameters."""

from __future__ import annotations

import json

import pytest
import torch
import yaml

from conftest import tiny_config
from pml_core.cli import main
from pml_core.config import num_stages, parse_config, stage_config
from pml_core.data import build_datasets, build_eval_loader
from pml_core.experiments.run import train_run
from pml_core.model import build_model
from pml_core.train import checkpoint as ckpt


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data_root):
    """A tiny two-stage run whose last stage predicts a Gaussian (PFE: mean + extra-head variance)."""
    root = tmp_path_factory.mktemp("export") / "pfe"
    train_run(tiny_config("pfe-arcface"), root, data_root, logger="none", progress=False)
    return root


def _load(path, format):
    extra = {"config.yaml": ""}
    if format == "torchscript":
        return torch.jit.load(str(path), _extra_files=extra), extra
    return torch.export.load(str(path), extra_files=extra).module(), extra


@pytest.mark.parametrize("format", ["torchscript", "export"])
@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:FutureWarning")
def test_exported_embedder_gives_the_checkpoint_parameters(trained, data_root, tmp_path, capsys, format):
    output = tmp_path / "embedder.pt"
    checkpoint = trained / "checkpoints" / "stage-1" / "best.pth"
    assert main(["trace-embedder", "--config", str(trained / "config.yaml"), "--checkpoint", str(checkpoint),
                 "--output", str(output), "--format", format, str(data_root)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["output"] == str(output) and report["format"] == format and report["distribution"] == "gmm"
    assert report["max_abs_difference"] < 1e-5

    cfg = parse_config(yaml.safe_load((trained / "config.yaml").read_text()))
    last = stage_config(cfg, num_stages(cfg) - 1)
    datasets = build_datasets(last.dataset_params, data_root)
    model = build_model(last.model_params, num_classes=datasets.train.num_classes)
    ckpt.load_model_state(model, ckpt.load_checkpoint(checkpoint)["model"])
    model.eval()
    # Another batch than the tracing one (a later slice, another batch size).
    test_set = datasets.tests["infer-glyphs"]
    images = torch.stack([build_eval_loader(test_set, last.dataset_params).dataset[i][0] for i in range(7, 12)])
    traced, extra = _load(output, format)
    with torch.no_grad():
        expected = model.embed(images)
        exported = traced(images)
    assert exported.shape == expected.shape == (5, report["num_parameters"])
    torch.testing.assert_close(exported, expected, rtol=1e-5, atol=1e-6)
    # The parameters mean the same distribution: its confidences agree too.
    torch.testing.assert_close(model.distribution.confidences(exported), model.distribution.confidences(expected))
    assert not torch.equal(expected[:, -1], torch.zeros(5))  # the extra head's variance is part of the output
    saved = yaml.safe_load(extra["config.yaml"])
    assert saved["model_params"]["distribution_type"] == "gmm"
    assert saved["model_params"]["embedder_params"]["extra_head_dim"] == 1


def test_reference_option_name_and_batch_size(trained, data_root, tmp_path, capsys):
    output = tmp_path / "traced.pt"
    assert main(["trace-embedder", "--config", str(trained / "config.yaml"), "--checkpoint",
                 str(trained / "checkpoints" / "stage-1" / "best.pth"), "--trace-output", str(output),
                 "--batch-size", "3", str(data_root)]) == 0
    assert json.loads(capsys.readouterr().out)["input_shape"][0] == 3
    assert output.is_file() and not list(tmp_path.glob(".*.tmp"))


def test_bad_input_is_one_line(trained, data_root, tmp_path, capsys):
    config = str(trained / "config.yaml")
    stage0 = str(trained / "checkpoints" / "stage-0" / "best.pth")
    cases = [
        (["--checkpoint", str(tmp_path / "missing.pth"), "--output", str(tmp_path / "a.pt")], "does not exist"),
        (["--checkpoint", stage0, "--output", str(tmp_path)], "is a folder"),
        (["--checkpoint", stage0, "--output", str(tmp_path / "b.pt")], "does not fit"),  # stage 0: no extra head
        (["--checkpoint", stage0, "--output", str(tmp_path / "c.pt"), "--device", "tpu9"], "is not a device"),
    ]
    for arguments, message in cases:
        assert main(["trace-embedder", "--config", config, *arguments, str(data_root)]) == 2
        error = capsys.readouterr().err.strip()
        assert error.startswith("error: ") and message in error and "\n" not in error, error
    assert not list(tmp_path.glob("*.pt"))
