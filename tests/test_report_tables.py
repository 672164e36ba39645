"""Report tables: caption (unit, seed rule, direction) in md / tex / HTML, paper names, grouping, "n = 1",
the budget note, and the csv + md read back for the index."""

from __future__ import annotations

import pandas as pd
import pytest

from pml_core.report import paper, tables


def _summary(rows):
    return pd.DataFrame(rows, columns=["dataset", "method", "dim", "test_set", "metric", "mean", "std", "n"])


@pytest.fixture
def table():
    summary = _summary([
        ("glyphs", "arcface", 128, "infer-glyphs", "mapr", 0.412, 0.01, 2),
        ("glyphs", "arcface", 128, "infer-glyphs", "erc-mapr", float("nan"), float("nan"), 0),
        ("glyphs", "pfe-arcface", 128, "infer-glyphs", "mapr", 0.405, 0.0, 1),
        ("glyphs", "pfe-arcface", 128, "infer-glyphs", "erc-mapr", 0.61, 0.02, 2),
    ])
    values = tables.metric_table(summary, [("infer-{dataset}", "mapr"), ("infer-{dataset}", "erc-mapr")])
    return tables.Table(values, "Retrieval; values in % (×100), mean ± std over the best 2 of 3 seeds",
                        ["Budget: 10 epochs of 30 steps per method."],
                        {"arcface": "Deterministic", "pfe-arcface": "Probabilistic"},
                        {("arcface", 128): ["glyphs/arcface-128/seed-0", "glyphs/arcface-128/seed-2"],
                         ("pfe-arcface", 128): ["glyphs/pfe-arcface-128/seed-1"]}, best_k=2)


def test_markdown_has_caption_names_groups_directions_and_notes(table):
    md = table.markdown()
    lines = md.splitlines()
    assert lines[0].startswith("Table: Retrieval; values in % (×100), mean ± std over the best 2 of 3 seeds")
    header = next(line for line in lines if line.startswith("| Method"))
    assert "MAP@R ↑" in header and "ERC-MAP@R ↓" in header and "mapr" not in header
    rows = [line for line in lines if line.startswith("| ") and not line.startswith("| Method")]
    assert rows[0].startswith("| *Deterministic*") and rows[1].startswith("| ArcFace | 128 | **41.2 ± 1.0** | – |")
    assert rows[2].startswith("| *Probabilistic*")
    assert rows[3] == "| PFE (ArcFace) | 128 | 40.5 (n = 1) | **61.0 ± 2.0** |"  # one seed: no "± 0.0"
    assert lines[-1] == "Budget: 10 epochs of 30 steps per method."


def test_one_seed_tables_print_plain_values():
    assert tables.format_cell(0.4051, 0.0, 1, best_k=1) == "40.5"
    assert tables.format_cell(0.4051, 0.0, 1, best_k=5) == "40.5 (n = 1)"
    assert tables.format_cell(0.4051, 0.02, 3, best_k=5) == "40.5 ± 2.0 (n = 3)"
    assert tables.format_cell(0.4051, 0.02, 5, best_k=5) == "40.5 ± 2.0"
    assert tables.format_cell(float("nan"), float("nan"), 0, best_k=5) == "–"


def test_latex_has_caption_escaped_and_group_rows(table):
    tex = tables.to_latex(table)
    assert "\\caption{Retrieval; values in \\% ($\\times$100), mean $\\pm$ std" in tex
    assert "\\multicolumn{2}{c}{Glyphs}" in tex and "MAP@R $\\uparrow$" in tex and "ERC-MAP@R $\\downarrow$" in tex
    assert "\\multicolumn{4}{l}{\\textit{Deterministic}} \\\\" in tex
    assert "PFE (ArcFace) & 128 & 40.5 (n = 1) & \\textbf{61.0 $\\pm$ 2.0} \\\\" in tex
    assert "{\\footnotesize Budget: 10 epochs of 30 steps per method.}" in tex
    assert "%" not in tex.replace("\\%", "")  # an unescaped % would comment out the rest of the line


def test_html_has_caption_header_rows_groups_and_run_links(table):
    page = tables.to_html(table, lambda runs: " ".join(f'<a href="{r}">{r}</a>' for r in runs))
    assert "<caption>Retrieval; values in % (×100), mean ± std over the best 2 of 3 seeds</caption>" in page
    assert '<th colspan="2">Glyphs</th>' in page and "<th>ERC-MAP@R ↓</th>" in page
    assert '<tr class="group"><th colspan="5">Deterministic</th></tr>' in page
    assert '<a href="glyphs/arcface-128/seed-2">' in page and '<td title="pfe-arcface">PFE (ArcFace)</td>' in page
    assert '<p class="note">Budget: 10 epochs of 30 steps per method.</p>' in page


def test_files_read_back_as_the_same_table(table, tmp_path):
    paths = tables.write_table(table, tmp_path, "table_x")
    assert [p.name for p in paths] == ["table_x.csv", "table_x.md", "table_x.tex"]
    back = tables.read_table(tmp_path / "table_x")
    assert back.caption == table.caption and back.notes == table.notes
    assert back.groups == table.groups and back.runs == table.runs and back.best_k == 2
    pd.testing.assert_frame_equal(back.values, table.values, check_names=False)  # exact: %.17g round trip
    assert tables.to_html(back) == tables.to_html(table)
    frame = pd.read_csv(tmp_path / "table_x.csv")
    assert list(frame.columns[:4]) == ["method", "name", "group", "dim"] and frame.name[1] == "PFE (ArcFace)"


def test_a_single_group_prints_no_group_row(table):
    table.groups = {"arcface": "Probabilistic", "pfe-arcface": "Probabilistic"}
    assert "*Probabilistic*" not in table.markdown()


def test_caption_states_unit_seed_rule_and_directions():
    slice_ = {"datasets": ["glyphs"], "seeds": [0, 1, 2], "best_k": 2}
    text = paper.caption("Retrieval quality", "smoke", slice_, pd.DataFrame(columns=["method", "path"]))
    assert "Retrieval quality; Glyphs, smoke profile" in text and "in % (×100)" in text
    assert "mean ± std over the best 2 of 3 seeds" in text and "↑: higher is better, ↓: lower is better" in text
    one = paper.caption("R", "tiny", {**slice_, "best_k": 1}, pd.DataFrame(columns=["method", "path"]))
    assert "the value of the best 1 of 3 seeds (n = 1: no std)" in one


def test_budget_note_is_printed_when_the_grid_has_one(monkeypatch):
    monkeypatch.setattr(paper.grid, "profile_grid", lambda profile: {"budget": "Ten epochs\n  of 30 steps."})
    assert paper.budget_note("smoke") == "Budget: Ten epochs of 30 steps."
    monkeypatch.setattr(paper.grid, "profile_grid", lambda profile: {})
    assert paper.budget_note("smoke") is None


def test_written_paths_are_relative_to_the_repository(tmp_path):
    inside = paper.REPO_ROOT / "paper_figures" / "tiny" / "table_x.md"
    assert paper.written([inside]) == "written:\n  paper_figures/tiny/table_x.md"
    assert paper.written([tmp_path / "a.md"]) == f"written:\n  {tmp_path / 'a.md'}"
