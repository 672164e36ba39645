"""The run-store explorer behind the quickstart: run listing, query paging, ERC, mode choice."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pytest

from pml_core.errors import ConfigError
from pml_core.experiments import runstore
from pml_core.report import explorer

matplotlib.use("Agg")


def _view(n=10, k=3, confidences=True, seed=0) -> explorer.RunView:
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 3
    means = rng.normal(size=(n, 4)).astype(np.float32)
    neighbours = np.array([[(i + j + 1) % n for j in range(k)] for i in range(n)])
    return explorer.RunView(Path("results/tiny/glyphs/pfe-arcface-8/seed-0"), np.zeros((n, 8, 8, 3), np.uint8),
                            labels, means, rng.random(n).astype(np.float32) if confidences else None, neighbours)


def test_pages_cover_every_query_once_and_wrap():
    view = _view(n=10)
    pages = [view.page(p, per_page=4) for p in range(view.num_pages(4))]
    assert view.num_pages(4) == 3
    assert sorted(np.concatenate(pages).tolist()) == list(range(10))
    assert view.page(3, per_page=4).tolist() == pages[0].tolist()  # wraps around


def test_confidence_orders_and_their_fallback():
    view = _view(n=10)
    least = view.query_order("least-confident")
    assert np.all(np.diff(view.confidences[least]) >= 0)
    assert view.query_order("most-confident").tolist() == least[::-1].tolist()
    plain = _view(n=10, confidences=False)
    assert plain.query_order("least-confident").tolist() == plain.query_order("spread").tolist()
    with pytest.raises(ConfigError, match="spread"):
        view.query_order("random")


def test_table_counts_hits_and_erc_needs_confidences():
    view = _view(n=9, k=3)
    table = view.table([0, 4])
    assert list(table.index) == [0, 4] and "confidence" in table.columns
    expected = int((view.labels[view.neighbours[0]] == view.labels[0]).sum())
    assert table.loc[0, "hits"] == f"{expected}/3"
    curves = view.erc_curves()
    rejected, error = curves["recall@1"]
    assert rejected[-1] == pytest.approx(0.0) and np.all(np.diff(rejected) < 0)
    assert np.all((error >= 0) & (error <= 1))
    fig = view.erc_figure()
    assert len(fig.axes[0].lines) >= 2
    assert _view(confidences=False).erc_curves() is None and _view(confidences=False).erc_figure() is None


def test_list_runs_reads_the_store(tmp_path):
    for method, confidence in (("arcface", False), ("pfe-arcface", True)):
        run = runstore.run_dir(tmp_path, "tiny", "glyphs", method, 8, 0)
        run.mkdir(parents=True)
        arrays = {"mean": np.zeros((4, 8)), "labels": np.arange(4)}
        if confidence:
            arrays["confidence"] = np.ones(4)
        runstore.write_predictions(run, {"infer-glyphs": arrays})
        runstore.write_metrics(run, {"infer-glyphs": {"mapr": 0.5}})
    runstore.run_dir(tmp_path, "tiny", "glyphs", "cosface", 8, 0).mkdir(parents=True)  # incomplete: left out
    runs = explorer.list_runs(tmp_path, "tiny")
    assert runs[["method", "has_confidence"]].values.tolist() == [["arcface", False], ["pfe-arcface", True]]
    store = explorer.Explorer(tmp_path, tmp_path / "data", "tiny")
    assert store.select().method == "pfe-arcface"  # the run with confidences first
    assert store.select(method="arcface").method == "arcface"
    with pytest.raises(ConfigError, match="available"):
        store.select(dataset="cub200")


def test_widgets_only_with_an_interactive_frontend():
    assert explorer.use_widgets(False) is False and explorer.use_widgets(True) is True
    assert explorer.use_widgets("auto") is False  # no kernel here (pytest), as under papermill
    with pytest.raises(ConfigError):
        explorer.use_widgets("yes")
