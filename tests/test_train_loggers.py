"""Loggers: TensorBoard event files and offline wandb runs hold the logged metrics."""

from __future__ import annotations

import json

import pytest

from conftest import tiny_config
from pml_core.errors import ConfigError
from pml_core.experiments import runstore
from pml_core.experiments.run import train_run
from pml_core.train.loggers import create_logger

FAST = ["trainer_params.num_epochs=2", "trainer_params.max_steps_per_epoch=2",
        "dataset_params.add_lossy_testsets=false", "dataset_params.add_verification_testsets=false",
        "dataset_params.transform_params.image_size=16"]


def test_tensorboard_event_file_holds_metrics_config_and_hparams(tmp_path, data_root):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    root = tmp_path / "tb"
    train_run(tiny_config(dim=8, overrides=FAST), root, data_root, logger="tensorboard", progress=False)
    history = runstore.read_history(root)
    accumulator = EventAccumulator(str(root / "tensorboard"), size_guidance={"tensors": 0, "scalars": 0})
    accumulator.Reload()
    tags = accumulator.Tags()
    assert {"train/loss", "valid/mapr", "lr"} <= set(tags["scalars"])
    losses = [(e.step, e.value) for e in accumulator.Scalars("train/loss")]
    assert losses == [(row["epoch"], pytest.approx(row["train/loss"], rel=1e-6)) for row in history]
    assert [e.value for e in accumulator.Scalars("valid/mapr")] == pytest.approx([r["valid/mapr"] for r in history])
    assert "config/text_summary" in tags["tensors"]
    text = accumulator.Tensors("config/text_summary")[0].tensor_proto.string_val[0].decode()
    assert "selection_metric: mapr" in text
    # hparams: a plugin summary in the same folder (add_hparams with run_name=".")
    hparams = accumulator.PluginTagToContent("hparams")
    assert {"_hparams_/experiment", "_hparams_/session_start_info"} <= set(hparams)
    from tensorboard.plugins.hparams import plugin_data_pb2

    start = plugin_data_pb2.HParamsPluginData.FromString(hparams["_hparams_/session_start_info"]).session_start_info
    assert start.hparams["trainer_params.selection_metric"].string_value == "mapr"
    assert start.hparams["dataset_params.batch_size"].number_value == 32
    final = runstore.read_metrics(root)
    assert accumulator.Scalars("hparam/infer-glyphs/mapr")[0].value == pytest.approx(final["infer-glyphs"]["mapr"])


def _wandb_records(path):
    """The protobuf records of a ``.wandb`` transaction log (a LevelDB-style log after a 7-byte header)."""
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B"
    block, position, pending = 32768, 7, b""
    while position + 7 <= len(data):
        if block - position % block < 7:  # block trailer: skip to the next block
            position += block - position % block
            continue
        length = int.from_bytes(data[position + 4:position + 6], "little")
        kind = data[position + 6]
        chunk = data[position + 7:position + 7 + length]
        position += 7 + length
        if kind == 0 and length == 0:
            continue
        pending = chunk if kind in (1, 2) else pending + chunk  # FULL / FIRST start, MIDDLE / LAST continue
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            yield record
            pending = b""


def _wandb_history(run_dir):
    """Every logged row of an offline run, read back from its ``.wandb`` file."""
    import json as _json

    (path,) = list(run_dir.glob("*.wandb"))
    rows, summary = [], {}
    for record in _wandb_records(path):
        kind = record.WhichOneof("record_type")
        if kind == "history":
            rows.append({item.key or "/".join(item.nested_key): _json.loads(item.value_json)
                         for item in record.history.item})
        elif kind == "summary":
            summary.update({item.key or "/".join(item.nested_key): _json.loads(item.value_json)
                            for item in record.summary.update})
    return rows, summary


def test_wandb_offline_run_directory_holds_the_metrics(tmp_path, data_root, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    root = tmp_path / "wb"
    train_run(tiny_config(dim=8, overrides=FAST), root, data_root, logger="wandb:pml-tests:arcface:g1", progress=False)
    history = runstore.read_history(root)
    (run_dir,) = list((root / "wandb").glob("offline-run-*"))
    rows, summary = _wandb_history(run_dir)
    rows = [r for r in rows if "train/loss" in r]
    assert [r["train/loss"] for r in rows] == pytest.approx([h["train/loss"] for h in history])
    assert [r["valid/mapr"] for r in rows] == pytest.approx([h["valid/mapr"] for h in history])
    assert summary["infer-glyphs/mapr"] == pytest.approx(runstore.read_metrics(root)["infer-glyphs"]["mapr"])


def test_bad_logger_specs_fail_clearly(tmp_path):
    for spec in ("wandb", "wandb:project", "mlflow"):
        with pytest.raises(ConfigError, match="wandb:<project>:<experiment>"):
            create_logger(spec, tmp_path)
