"""Clear errors instead of tracebacks or silent numbers: the metrics command, recall@k beyond the set,
a damaged glyphs cache, the NaN advice."""

from __future__ import annotations

import argparse
import json
import warnings

import numpy as np
import pytest
import torch

from conftest import tiny_config
from pml_core.commands import metrics as command
from pml_core.config import GlyphsParams
from pml_core.data.glyphs import cache_key, load_glyphs
from pml_core.errors import ConfigError, DataError, RunError
from pml_core.experiments.run import train_run
from pml_core.metrics import retrieval_metrics


def _metrics(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    command.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["metrics", *argv])
    return args.func(args)


@pytest.fixture
def hundred_items(tmp_path):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "e.npy", rng.normal(size=(100, 4)))
    np.save(tmp_path / "l.npy", np.repeat(np.arange(20), 5))
    return ["--embeddings", str(tmp_path / "e.npy"), "--labels", str(tmp_path / "l.npy"), "--json"]


def test_recall_k_beyond_the_set_follows_the_reference_convention_loudly(hundred_items, capsys):
    """The reference's tests define recall@k past the set as 1 (the list is capped at the set): kept, with a warning."""
    with pytest.warns(UserWarning, match=r"recall@1000: k exceeds the 99 items a query can rank here \(100 items\)"):
        assert _metrics([*hundred_items, "--recall-k", "1", "1000"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["recall@1000"] == 1.0 and out["recall@1"] < 1.0
    x = torch.randn(10, 3)
    labels = torch.arange(10) % 2
    query = torch.arange(10) < 3  # queries search the 7 other items
    with pytest.warns(UserWarning, match="exceeds the 7 items"):
        assert retrieval_metrics(x, labels, recall_k=(8,), query_mask=query)["recall@8"] == 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        retrieval_metrics(x, labels, recall_k=(7,), query_mask=query)  # the whole gallery: no warning
        retrieval_metrics(x, labels, recall_k=(50,), metrics=["mapr"])  # k unused


@pytest.mark.parametrize("argv, message", [
    (["--filter-out-bins", "-1"], "--filter-out-bins must be >= 0"),
    (["--recall-k", "0"], "--recall-k values must be >= 1"),
    (["--memory-mb", "0"], "--memory-mb must be > 0"),
    (["--device", "gpu"], "'gpu' is not a device name"),
])
def test_bad_metrics_arguments_are_config_errors(hundred_items, argv, message):
    with pytest.raises(ConfigError, match=message):
        _metrics([*hundred_items, *argv])


def test_an_npz_archive_is_a_data_error_naming_its_arrays(tmp_path, hundred_items):
    np.savez(tmp_path / "both.npz", embeddings=np.zeros((4, 2)), labels=np.arange(4))
    argv = list(hundred_items)
    argv[1] = str(tmp_path / "both.npz")
    with pytest.raises(DataError, match=r"both.npz is an .npz archive \(arrays: embeddings, labels\); .*np.save"):
        _metrics(argv)


def test_negative_filter_out_bins_in_the_library(hundred_items):
    with pytest.raises(ConfigError, match="num_filter_out_bins must be >= 0"):
        retrieval_metrics(torch.randn(6, 2), torch.arange(6) % 2, torch.rand(6), recall_k=(1,), num_filter_out_bins=-1)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "flipped"])
def test_a_damaged_glyphs_cache_is_regenerated(tmp_path, damage):
    params = GlyphsParams(num_classes=4, samples_per_class=3, image_size=16, seed=0)
    fresh = load_glyphs(params, tmp_path)
    path = tmp_path / "glyphs" / f"glyphs-{cache_key(4, 3, 16, 0)}.npz"
    data = bytearray(path.read_bytes())
    if damage == "garbage":
        data = bytearray(b"PK\x03\x04 not a zip at all")
    elif damage == "truncated":
        data = data[: len(data) // 2]
    else:
        data[len(data) // 3] ^= 0xFF
    path.write_bytes(bytes(data))
    again = load_glyphs(params, tmp_path)
    assert np.array_equal(again["images"], fresh["images"]) and np.array_equal(again["labels"], fresh["labels"])
    with np.load(path) as cached:  # and the cache file is whole again
        assert np.array_equal(cached["images"], fresh["images"])


def _poison(monkeypatch):
    import pml_core.losses as losses

    real = losses.build_criterion

    def poisoned(params, model):
        criterion = real(params, model)
        return lambda output, labels: (criterion(output, labels)[0] * float("nan"), {"xent": float("nan")})

    monkeypatch.setattr(losses, "build_criterion", poisoned)


def test_nan_advice_knows_whether_clipping_is_on(tmp_path, data_root, monkeypatch):
    _poison(monkeypatch)
    with pytest.raises(RunError) as on:
        train_run(tiny_config(), tmp_path / "on", data_root, logger="none", progress=False)
    assert "gradient clipping at 10 is on" in str(on.value) and "enable" not in str(on.value)
    with pytest.raises(RunError, match=r"lower trainer_params.optimizer_params.lr or enable "
                                       r"trainer_params.gradient_clipping"):
        train_run(tiny_config(overrides=["trainer_params.gradient_clipping=null"]), tmp_path / "off", data_root,
                  logger="none", progress=False)
