"""The ``metrics`` command: parser, JSON output, distribution parameters, bad input."""

import argparse
import json
import math

import numpy as np
import pytest
import torch

from pml_core.commands import metrics as command
from pml_core.errors import ConfigError, DataError
from pml_core.metrics import retrieval_metrics


def _parser():
    parser = argparse.ArgumentParser()
    command.add_parser(parser.add_subparsers(dest="command"))
    return parser


def _data(tmp_path, n_classes=12, dim=5, seed=0):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(n_classes), 4)
    x = rng.normal(size=(n_classes, dim))[y] + 0.7 * rng.normal(size=(len(y), dim))
    c = rng.random(len(y))
    for name, a in (("e", x), ("l", y), ("c", c)):
        np.save(tmp_path / f"{name}.npy", a)
    return x, y, c


def _run(argv, capsys):
    args = _parser().parse_args(["metrics", *argv])
    assert args.func(args) == 0
    return json.loads(capsys.readouterr().out)


def test_json_output_matches_library(tmp_path, capsys):
    x, y, c = _data(tmp_path)
    out = _run(["--embeddings", str(tmp_path / "e.npy"), "--labels", str(tmp_path / "l.npy"),
                "--confidences", str(tmp_path / "c.npy"), "--filter-out-bins", "3", "--json"], capsys)
    ref = retrieval_metrics(torch.from_numpy(x), y, c, num_filter_out_bins=3)
    assert set(out) == set(ref)
    for k, v in ref.items():
        assert (out[k] is None and math.isnan(v)) or out[k] == pytest.approx(v), k
    assert "filter-out/0.900/mapr" in out and "recall@8" in out


def test_gmm_mls_reference_and_exact_search(tmp_path, capsys):
    x, y, _ = _data(tmp_path, seed=1)
    hidden = np.random.default_rng(2).normal(size=(len(y), 1))
    np.save(tmp_path / "p.npy", np.concatenate([x, hidden], 1))
    base = ["--embeddings", str(tmp_path / "p.npy"), "--labels", str(tmp_path / "l.npy"),
            "--distribution", "gmm", "--scorer", "mls", "--json"]
    ref = _run(base, capsys)
    exact = _run([*base, "--search", "exact"], capsys)
    assert "erc-mapr" in ref and 0 <= ref["mapr"] <= 1 and 0 <= exact["mapr"] <= 1
    cos = _run([*base[:-3], "--scorer", "cosine", "--json"], capsys)
    assert set(cos) == set(ref)


def test_query_mask(tmp_path, capsys):
    x, y, c = _data(tmp_path)
    q = np.zeros(len(y), dtype=bool)
    q[::4] = True
    np.save(tmp_path / "q.npy", q)
    out = _run(["--embeddings", str(tmp_path / "e.npy"), "--labels", str(tmp_path / "l.npy"),
                "--query-mask", str(tmp_path / "q.npy"), "--json"], capsys)
    ref = retrieval_metrics(torch.from_numpy(x), y, query_mask=q)
    assert out["mapr"] == pytest.approx(ref["mapr"])


def test_bad_input(tmp_path):
    _data(tmp_path)
    np.save(tmp_path / "short.npy", np.arange(3))
    parser = _parser()
    args = parser.parse_args(["metrics", "--embeddings", str(tmp_path / "e.npy"), "--labels", str(tmp_path / "short.npy")])
    with pytest.raises(DataError, match="labels"):
        args.func(args)
    args = parser.parse_args(["metrics", "--embeddings", str(tmp_path / "nope.npy"), "--labels", str(tmp_path / "l.npy")])
    with pytest.raises(DataError, match="not found"):
        args.func(args)
    args = parser.parse_args(["metrics", "--embeddings", str(tmp_path / "e.npy"), "--labels", str(tmp_path / "l.npy"),
                              "--scorer", "mls"])
    with pytest.raises(ConfigError, match="--distribution"):
        args.func(args)
