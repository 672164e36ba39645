"""The run-store explorer behind the quickstart: run listing, class names, 1-based query paging, orders only
where they mean something, labelled ERC baselines, training curves from history.csv, the widget's choices."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest

from pml_core.errors import ConfigError
from pml_core.experiments import runstore
from pml_core.report import explorer

matplotlib.use("Agg")

HISTORY = pd.DataFrame({"stage": [0, 0, 1, 1], "epoch": [1, 2, 1, 2], "lr": 0.1, "seconds": 1.0,
                        "train/loss": [3.0, 2.5, 1.0, 0.8], "train/grad_norm": [9.0, 8, 7, 6],
                        "valid/mapr": [0.1, 0.2, 0.25, 0.24], "valid/recall@1": [0.2, 0.3, 0.35, 0.36]})


def _view(n=10, k=3, confidences=True, seed=0, names=None, history=None, selected=None) -> explorer.RunView:
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 3
    means = rng.normal(size=(n, 4)).astype(np.float32)
    neighbours = np.array([[(i + j + 1) % n for j in range(k)] for i in range(n)])
    return explorer.RunView(Path("results/tiny/glyphs/pfe-arcface-8/seed-0"), np.zeros((n, 8, 8, 3), np.uint8),
                            labels, means, rng.random(n).astype(np.float32) if confidences else None, neighbours,
                            names, history, selected)


def test_pages_are_one_based_cover_every_query_once_and_wrap():
    view = _view(n=10)
    assert view.num_pages(4) == 3
    pages = [view.page(p, per_page=4) for p in range(1, view.num_pages(4) + 1)]
    assert sorted(np.concatenate(pages).tolist()) == list(range(10))
    assert view.page(1, per_page=4).tolist() == view.query_order()[:4].tolist()  # page 1 is the first
    assert view.page(4, per_page=4).tolist() == pages[0].tolist()  # wraps around
    assert view.page(0, per_page=4).tolist() == pages[-1].tolist()


def test_confidence_orders_only_for_runs_with_confidences():
    view = _view(n=10)
    assert view.orders == ("spread", "least-confident", "most-confident")
    least = view.query_order("least-confident")
    assert np.all(np.diff(view.confidences[least]) >= 0)
    assert view.query_order("most-confident").tolist() == least[::-1].tolist()
    plain = _view(n=10, confidences=False)
    assert plain.orders == ("spread",)
    with pytest.raises(ConfigError, match="no confidences"):
        plain.query_order("least-confident")
    with pytest.raises(ConfigError, match="spread"):
        view.query_order("random")


def test_table_names_classes_and_counts_hits():
    names = ["ж", "Ω", "q"]
    view = _view(n=9, k=3, names=names)
    table = view.table([0, 4])
    assert list(table.index) == [0, 4] and "confidence" in table.columns
    assert table.loc[0, "class"] == names[view.labels[0]] and table.loc[4, "class"] == names[view.labels[4]]
    assert table.loc[0, "neighbour classes"].split() == [names[view.labels[n]] for n in view.neighbours[0]]
    expected = int((view.labels[view.neighbours[0]] == view.labels[0]).sum())
    assert table.loc[0, "hits"] == f"{expected}/3"
    assert _view(n=9).table([0]).loc[0, "class"] == str(_view(n=9).labels[0])  # numbers when there are no names


def test_erc_curves_and_labelled_baselines():
    view = _view(n=9, k=3)
    rejected, error = view.erc_curves()["recall@1"]
    assert rejected[-1] == pytest.approx(0.0) and np.all(np.diff(rejected) < 0)
    assert np.all((error >= 0) & (error <= 1))
    fig = view.erc_figure()
    ax = fig.axes[0]
    baselines = [line for line in ax.lines if line.get_linestyle() == ":"]
    assert len(baselines) == 2 and all("random confidence" in line.get_label() for line in baselines)
    assert baselines[0].get_ydata()[0] == pytest.approx(error[-1])  # the error with nothing rejected
    assert ax.get_ylim()[0] < 0 < 1 < ax.get_ylim()[1] < 1.05  # the axis is the error's range, with a margin
    assert _view(confidences=False).erc_curves() is None and _view(confidences=False).erc_figure() is None


def test_training_curves_from_history():
    view = _view(history=HISTORY, selected=1)
    fig = view.history_figure()
    left, right = fig.axes
    assert [line.get_label() for line in left.lines if not line.get_label().startswith("_")] == ["loss"]
    drawn = {line.get_label(): line for line in right.lines}
    assert drawn["MAP@R"].get_ydata().tolist() == HISTORY["valid/mapr"].tolist()
    assert drawn["MAP@R"].get_xdata().tolist() == [1, 2, 3, 4]  # epochs over all stages
    stage_lines = [line for line in right.lines if line.get_linestyle() == "--" and line.get_label().startswith("_")]
    assert [line.get_xdata()[0] for line in stage_lines] == [2.5]  # stage 1 starts after two epochs
    assert drawn["tested checkpoint"].get_xdata()[0] == 3  # stage 1, epoch 1
    assert _view().history_figure() is None


def _store(tmp_path) -> Path:
    for profile, method, confidence in (("tiny", "arcface", False), ("tiny", "pfe-arcface", True),
                                        ("smoke", "arcface", False)):
        run = runstore.run_dir(tmp_path, profile, "glyphs", method, 8, 0)
        run.mkdir(parents=True)
        arrays = {"mean": np.zeros((4, 8)), "labels": np.arange(4)}
        if confidence:
            arrays["confidence"] = np.ones(4)
        runstore.write_predictions(run, {"infer-glyphs": arrays})
        runstore.write_metrics(run, {"infer-glyphs": {"mapr": 0.5}})
    runstore.run_dir(tmp_path, "tiny", "glyphs", "cosface", 8, 0).mkdir(parents=True)  # incomplete: left out
    return tmp_path


def test_list_runs_and_select_across_profiles(tmp_path):
    root = _store(tmp_path)
    runs = explorer.list_runs(root, "tiny")
    assert runs[["method", "has_confidence"]].values.tolist() == [["arcface", False], ["pfe-arcface", True]]
    store = explorer.Explorer(root, root / "data", "tiny")
    assert sorted(set(store.runs.profile)) == ["smoke", "tiny"]
    assert store.runs_of("tiny").method.tolist() == ["arcface", "pfe-arcface"] and "path" not in store.runs_of()
    assert store.select().method == "pfe-arcface"  # this profile, the run with confidences first
    assert store.select(profile="smoke").profile == "smoke"
    assert store.select(method="arcface").profile == "tiny"
    with pytest.raises(ConfigError, match="available"):
        store.select(dataset="cub200")


def test_folder_links_are_relative(tmp_path):
    run = runstore.run_dir(tmp_path, "tiny", "glyphs", "arcface", 8, 0)
    run.mkdir(parents=True)
    (run / "config.yaml").write_text("seed: 0\n")
    (run / "tensorboard").mkdir()
    view = _view()
    view.run = run
    links = view.folder_links(base=tmp_path / "notebooks")
    assert "](../tiny/glyphs/arcface-8/seed-0/)" in links and "(../tiny/glyphs/arcface-8/seed-0/config.yaml)" in links
    assert "history.csv" not in links and "tensorboard --logdir ../tiny/glyphs/arcface-8/seed-0/tensorboard" in links


def test_widget_choices_follow_the_run(tmp_path, monkeypatch):
    pytest.importorskip("ipywidgets")
    import ipywidgets as w

    root = _store(tmp_path)
    store = explorer.Explorer(root, root / "data", "tiny", per_page=4)
    views = {}

    def fake_view(row):
        return views.setdefault(row.path, _view(n=10, confidences=bool(row.has_confidence), names=list("abc")))

    monkeypatch.setattr(store, "view", fake_view)
    box = store.widget()
    dropdowns = [c for row in box.children if isinstance(row, w.HBox) for c in row.children
                 if isinstance(c, w.Dropdown)]
    profile, dataset, method, run, ordering = dropdowns
    slider = next(c for row in box.children if isinstance(row, w.HBox) for c in row.children
                  if isinstance(c, w.IntSlider))
    status = next(c for c in box.children if isinstance(c, w.HTML))
    assert (profile.value, method.value) == ("tiny", "pfe-arcface")
    assert ordering.options == explorer.ORDERS and not ordering.disabled
    assert (slider.min, slider.value, slider.max) == (1, 1, 3) and "page 1 of 3" in status.value
    slider.value = 3
    assert "page 3 of 3" in status.value
    method.value = "arcface"  # deterministic: no confidence orders
    assert ordering.options == ("spread",) and ordering.disabled and slider.value == 1
    assert "(no confidences)" in run.label
    profile.value = "smoke"
    assert method.options == ("arcface",) and "smoke" in run.value
    assert all(float(d.layout.width.removesuffix("ch")) >= len(d.description) + max(map(len, d._options_labels))
               for d in dropdowns), "a dropdown too narrow for its options"


def test_widgets_only_with_an_interactive_frontend():
    assert explorer.use_widgets(False) is False and explorer.use_widgets(True) is True
    assert explorer.use_widgets("auto") is False  # no kernel here (pytest), as under papermill
    with pytest.raises(ConfigError):
        explorer.use_widgets("yes")
