"""Notebooks: committed without outputs, each executed by papermill in the tiny profile, tables and figures
written, and tables identical when regenerated from an independently trained run store."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from conftest import ROOT
from pml_core.report import run_notebooks

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_clean_and_parameterized(path):
    notebook = nbformat.read(path, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(not cell.outputs and cell.execution_count is None for cell in code), "commit notebooks without outputs"
    assert "parameters" in code[0].metadata.get("tags", []), "the first code cell must be the parameters cell"
    assert notebook.cells[0].cell_type == "markdown" and notebook.cells[0].source.startswith("# ")
    listed = {entry["name"] for entry in run_notebooks.manifest("smoke") + run_notebooks.manifest("paper")}
    assert path.stem in listed, "every notebook is in notebooks/manifest.yaml"


@pytest.fixture(scope="module")
def tiny_outputs(tmp_path_factory, data_root):
    root = tmp_path_factory.mktemp("tiny")
    status = run_notebooks.main(["--profile", "tiny", "--data-root", str(data_root), "--results-root", str(root / "results"),
                                 "--reports-root", str(root / "reports"), "--figures-root", str(root / "figures")])
    return root, status


def test_every_notebook_runs_in_the_tiny_profile(tiny_outputs):
    root, status = tiny_outputs
    reports = root / "reports" / "tiny"
    expected = [e["name"] + ("-glyphs" if e.get("per_dataset") else "") for e in run_notebooks.manifest("tiny")]
    for name in expected:
        executed = nbformat.read(reports / f"{name}.ipynb", as_version=4)
        errors = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
        assert not errors, f"{name}: {errors[0].ename if errors else ''}"
        html = (reports / f"{name}.html").read_text()
        assert "<html" in html and "import " not in html, f"{name}: inputs must be hidden in the HTML"
    assert status == 0
    index = (reports / "index.html").read_text()
    assert all(f'href="{name}.html"' in index for name in expected)


def test_tables_and_figures_are_written_and_not_empty(tiny_outputs):
    figures = tiny_outputs[0] / "figures" / "tiny"
    for table in ("table_retrieval", "table_confidence", "table_verification", "table_ablations"):
        frame = pd.read_csv(figures / f"{table}.csv")
        assert len(frame) >= 1 and frame.filter(like="mean/").notna().any().any(), table
        assert (figures / f"{table}.md").read_text().count("\n") >= 3
        assert "\\begin{tabular}" in (figures / f"{table}.tex").read_text()
    retrieval = pd.read_csv(figures / "table_retrieval.csv")
    assert set(retrieval.method) == {"arcface", "pfe-arcface"}
    confidence = pd.read_csv(figures / "table_confidence.csv")
    assert set(confidence.method) == {"pfe-arcface"}  # probabilistic methods only
    for figure in ("fig_erc", "fig_filter_out", "fig_quality", "fig_embeddings", "quickstart_retrieval_grid",
                   "quickstart_embeddings"):
        for suffix in ("png", "pdf"):
            assert (figures / f"{figure}.{suffix}").stat().st_size > 1000, f"{figure}.{suffix}"


def test_tables_are_identical_when_regenerated_from_scratch(tiny_outputs, tmp_path, data_root):
    root, _ = tiny_outputs
    status = run_notebooks.main(["--profile", "tiny", "--data-root", str(data_root), "--only", "table_retrieval",
                                 "--results-root", str(tmp_path / "results"), "--reports-root", str(tmp_path / "reports"),
                                 "--figures-root", str(tmp_path / "figures")])
    assert status == 0
    for suffix in ("md", "tex"):  # the printed precision
        assert (tmp_path / "figures/tiny" / f"table_retrieval.{suffix}").read_text() == \
               (root / "figures/tiny" / f"table_retrieval.{suffix}").read_text()


def test_two_stage_runs_reuse_the_identical_first_stage(tiny_outputs):
    import torch

    glyphs = tiny_outputs[0] / "results" / "tiny" / "glyphs"
    for seed in (0, 1):
        base = torch.load(glyphs / f"arcface-8/seed-{seed}/checkpoints/stage-0/best.pth", weights_only=True)
        for method in ("pfe-arcface", "pfe-nms-arcface"):
            reused = torch.load(glyphs / f"{method}-8/seed-{seed}/checkpoints/stage-0/best.pth", weights_only=True)
            assert reused["model"].keys() == base["model"].keys()
            assert all(torch.equal(reused["model"][k], base["model"][k]) for k in base["model"])
    history = (glyphs / "pfe-arcface-8/seed-0/history.csv").read_text().splitlines()
    assert {row.split(",")[0] for row in history[1:]} == {"0", "1"}  # stage-0 epochs are part of its history


def test_erc_curve_areas_are_the_table_erc_values(tiny_outputs):
    """The area under each curve of fig_erc is the ERC of table_confidence: the same runs (best k seeds), the
    per-query errors of the evaluation itself, bit for bit."""
    from pml_core.experiments import runstore
    from pml_core.report import figures, paper

    root = tiny_outputs[0]
    slice_ = paper.grid_slice("tiny")
    methods = [m for m in slice_["methods"] if paper.is_probabilistic(m)]
    frame = paper.erc_frame(root / "results", "tiny", slice_, methods)
    assert not frame.empty and frame.exact.all()
    for (method, dim, seed, metric), curve in frame.groupby(["method", "dim", "seed", "metric"]):
        stored = runstore.read_metrics(runstore.run_dir(root / "results", "tiny", "glyphs", method, dim, seed))
        assert curve.error.to_numpy().mean() == stored["infer-glyphs"][metric], (method, seed, metric)
    table = pd.read_csv(root / "figures" / "tiny" / "table_confidence.csv").set_index(["method", "dim"])
    for (dataset, metric, method, dim), line in figures.erc_lines(frame).items():
        assert line.area == table.at[(method, dim), f"mean/{dataset}/{metric}"], (method, metric)
        assert line.seeds == slice_["best_k"]


def test_index_rows_link_to_the_files_of_their_runs(tiny_outputs):
    import re
    from urllib.parse import unquote

    root = tiny_outputs[0]
    reports = root / "reports" / "tiny"
    index = (reports / "index.html").read_text()
    links = re.findall(r'(?:href|src)="([^"]+)"', index)
    assert links and all("://" not in link and not link.startswith("/") for link in links), "relative links only"
    for name in ("table_retrieval", "table_confidence", "table_verification", "table_ablations",
                 "table_face_verification"):
        section = index[index.index(f'<section id="{name}">'):]
        section = section[:section.index("</section>")]
        rows = [line for line in section.splitlines() if line.startswith("<tr><td title=")]
        frame = pd.read_csv(root / "figures" / "tiny" / f"{name}.csv")
        assert len(rows) == len(frame), name
        for row, (method, dim, runs) in zip(rows, frame[["method", "dim", "runs"]].itertuples(index=False)):
            assert f'title="{method}"' in row
            hrefs = [unquote(h) for h in re.findall(r'href="([^"]+)"', row)]
            for run in runs.split():
                assert run.startswith(f"glyphs/{method}-{dim}/seed-")
                for file in ("config.yaml", "metrics.json", "history.csv", "provenance.json"):
                    assert any(h.endswith(f"{run}/{file}") for h in hrefs), (name, run, file)
            assert hrefs and all((reports / h).is_file() for h in hrefs), (name, hrefs)
    assert 'class="stand-in"' in index, "the face table's STAND-IN warning is on the index"
    order = [index.index(f'id="{name}"') for name in ("table_retrieval", "table_confidence", "table_verification",
                                                       "table_ablations", "table_face_verification", "fig_erc",
                                                       "fig_filter_out", "fig_quality", "fig_embeddings",
                                                       "quickstart_embeddings")]
    assert order == sorted(order), "tables then figures, in the manifest's order"


def test_rendered_reports_load_nothing_from_the_network_and_show_their_parameters(tiny_outputs):
    import re

    pages = sorted((tiny_outputs[0] / "reports" / "tiny").glob("*.html"))
    assert len(pages) > 5
    for page in pages:
        text = page.read_text()
        assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", text), f"{page.name} loads a URL"
        assert not re.search(r"""import\(\s*["'](?:https?:)?//""", text), page.name
        assert "cdnjs" not in text and "unpkg.com" not in text and "jsdelivr" not in text, page.name
        if page.name != "index.html":
            assert 'href="index.html"' in text and "parameters of this run" in text, page.name
            assert re.search(r"<code>profile</code></th><td><code>&#x27;tiny&#x27;</code></td><td>given", text), page.name
    table = next(p for p in pages if p.name == "table_retrieval.html").read_text()
    assert "Profile <code>tiny</code>" in table and "With the <code>smoke</code> profile" not in table
