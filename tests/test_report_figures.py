"""Figures: saved as PNG and PDF, byte-identical when the same results are drawn again."""

import numpy as np

from pml_core.report.figures import embedding_scatter, save_figure


def test_saving_the_same_figure_twice_writes_the_same_bytes(tmp_path):
    rng = np.random.default_rng(0)
    vectors, labels = rng.normal(size=(40, 8)), rng.integers(0, 4, 40)
    first = save_figure(embedding_scatter(vectors, labels), tmp_path / "a", "scatter")
    second = save_figure(embedding_scatter(vectors, labels), tmp_path / "b", "scatter")
    assert [p.name for p in first] == ["scatter.png", "scatter.pdf"]
    assert b"/CreationDate" not in first[1].read_bytes()  # a date would change the bytes of every rerun
    for a, b in zip(first, second):
        assert a.read_bytes() == b.read_bytes(), a.name
