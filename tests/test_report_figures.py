"""Figures: saved as PNG and PDF, byte-identical when the same results are drawn again; curves with one
line per (method, dim), the method's colour in every figure, areas in the ERC legend, axes in range."""

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PolyCollection

from pml_core.metrics import erc_curve
from pml_core.report import figures, palette
from pml_core.report.figures import embedding_scatter, save_figure

matplotlib.use("Agg")


def test_saving_the_same_figure_twice_writes_the_same_bytes(tmp_path):
    rng = np.random.default_rng(0)
    vectors, labels = rng.normal(size=(40, 8)), rng.integers(0, 4, 40)
    first = save_figure(embedding_scatter(vectors, labels), tmp_path / "a", "scatter")
    second = save_figure(embedding_scatter(vectors, labels), tmp_path / "b", "scatter")
    assert [p.name for p in first] == ["scatter.png", "scatter.pdf"]
    assert b"/CreationDate" not in first[1].read_bytes()  # a date would change the bytes of every rerun
    for a, b in zip(first, second):
        assert a.read_bytes() == b.read_bytes(), a.name


def _erc_frame(methods=(("pfe-arcface", 128), ("pfe-arcface", 512), ("dul-reg-arcface", 128)), seeds=(0, 1), n=50):
    """Like `paper.erc_frame`: per run and metric, the curve of random 0/1 errors and confidences."""
    rng = np.random.default_rng(1)
    rows = []
    for method, dim in methods:
        for seed in seeds:
            for metric in ("erc-recall@1", "erc-mapr"):
                errors = (rng.random(n) < 0.9).astype(float)  # high error: mean ± sd runs past 100 %
                kept, error = erc_curve(errors, rng.random(n))
                _, oracle = erc_curve(errors, -errors)
                rows.append(pd.DataFrame({"dataset": "glyphs", "method": method, "dim": dim, "seed": seed,
                                          "metric": metric, "rejected": 1 - kept, "error": error, "oracle": oracle,
                                          "exact": True, "erc": error.mean()}))
    return pd.concat(rows, ignore_index=True)


def _filter_frame(methods=(("dul-reg-arcface", 128), ("pfe-arcface", 128)), seeds=(0, 1)):
    rng = np.random.default_rng(2)
    rows = [{"dataset": "glyphs", "method": m, "dim": d, "seed": s, "fraction": f, "metric": metric,
             "value": float(np.clip(0.98 + 0.05 * rng.normal(), 0, 1))}
            for m, d in methods for s in seeds for f in np.linspace(0, 0.9, 10) for metric in ("recall@1", "mapr")]
    return pd.DataFrame(rows)


def _lines(ax):
    return {line.get_label(): line for line in ax.get_lines() if not line.get_label().startswith("_")}


def test_erc_areas_in_the_legend_are_the_mean_erc_of_the_seeds():
    frame = _erc_frame()
    lines = figures.erc_lines(frame)
    for (dataset, metric, method, dim), line in lines.items():
        part = frame[(frame.metric == metric) & (frame.method == method) & (frame.dim == dim)]
        per_seed = part.groupby("seed").erc.first()
        assert line.area == pytest.approx(per_seed.mean(), abs=1e-15) and line.seeds == 2
        assert line.random_area == pytest.approx(part.groupby("seed").error.last().mean(), abs=1e-15)
        assert line.oracle_area <= line.area
    fig = figures.erc_figure(frame, best_k=2, num_seeds=3)
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    area = lines[("glyphs", "erc-recall@1", "pfe-arcface", 512)].area
    assert any(t.startswith(f"PFE (ArcFace), 512-D: {100 * area:.1f} (oracle ") for t in legend), legend
    assert sum("128-D" in t for t in legend) == 2 and sum("512-D" in t for t in legend) == 1  # one per (method, dim)
    assert any(t.startswith("oracle") for t in legend) and any(t.startswith("random") for t in legend)
    assert "ERC-Recall@1" in fig.axes[0].get_title() and "ERC-MAP@R" in fig.axes[1].get_title()
    note = " ".join(t.get_text() for t in fig.texts)
    assert "best 2 of 3 seeds" in note and "clipped to [0, 100] %" in note


def test_curves_stay_within_their_range():
    for fig in (figures.erc_figure(_erc_frame()), figures.filter_out_figure(_filter_frame())):
        for ax in fig.axes:
            low, high = ax.get_ylim()
            assert 0 <= low < high <= 100, ax.get_title()
            bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
            assert bands, "a ± sd band per line with two seeds"
            for band in bands:
                ys = np.concatenate([path.vertices[:, 1] for path in band.get_paths()])
                assert ys.min() >= 0 and ys.max() <= 100, ax.get_title()
            assert ax.yaxis.get_major_formatter()(50, 0).endswith("%")


def test_a_method_has_the_same_colour_in_every_figure():
    erc = figures.erc_figure(_erc_frame(methods=(("pfe-arcface", 128), ("dul-reg-arcface", 128))))
    out = figures.filter_out_figure(_filter_frame(methods=(("dul-reg-arcface", 128), ("pfe-arcface", 128))))
    for method, name in (("pfe-arcface", "PFE (ArcFace), 128-D"), ("dul-reg-arcface", "DUL-reg (ArcFace), 128-D")):
        in_erc = next(line for label, line in _lines(erc.axes[0]).items() if label.startswith(name))
        in_out = _lines(out.axes[0])[name]
        assert in_erc.get_color() == in_out.get_color() == palette.method_colour(method)
        assert in_erc.get_marker() == in_out.get_marker() == palette.method_marker(method)
    assert palette.method_colour("pfe-arcface") != palette.method_colour("dul-reg-arcface")
    assert palette.method_colour("pfe-nms-arcface") == palette.method_colour("pfe-arcface")  # variant: its base's
    assert palette.method_colour("someone-elses-method") == palette.method_colour("someone-elses-method")


def test_the_probabilistic_methods_of_a_grid_have_distinct_colours():
    from pml_core.experiments.grid import profile_grid
    from pml_core.report.paper import is_probabilistic

    for profile in ("smoke", "paper"):
        methods = [m for m in profile_grid(profile)["methods"] if is_probabilistic(m)]
        assert len({palette.method_colour(m) for m in methods}) == len(methods), profile


def test_embedding_scatter_has_class_and_size_legends_and_explained_variance():
    rng = np.random.default_rng(3)
    vectors = np.concatenate([rng.normal(size=(30, 8)) * [5, 1, 1, 1, 1, 1, 1, 1], rng.normal(size=(30, 8)) + 3])
    labels = np.repeat([0, 1], 30)
    fig = embedding_scatter(vectors, labels, rng.random(60), class_names=np.array(["A", "B"]))
    ax = fig.axes[0]
    assert "% of the variance" in ax.get_xlabel() and "% of the variance" in ax.get_ylabel()
    legends = [child for child in ax.get_children() if isinstance(child, matplotlib.legend.Legend)]
    texts = {t.get_text() for legend in legends for t in legend.get_texts()}
    assert {"A", "B"} <= texts and len(legends) == 2  # classes, and marker size = confidence
    assert any("confidence" in legend.get_title().get_text() for legend in legends)
    _, explained = figures.pca_2d(vectors)
    assert 0 < explained[1] <= explained[0] <= 1
