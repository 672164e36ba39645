"""The committed smoke tables (`paper_figures/smoke/`) are the kit's first result a user reads: every main method
of the smoke grid is in them and trains (test Recall@1 >= 20 %, chance is 1 / 160 classes), from pinned runs whose
machine is named (README, "Reading the smoke tables")."""

import json
from pathlib import Path

import pandas as pd

from pml_core.experiments.grid import profile_grid

ROOT = Path(__file__).resolve().parent.parent
SMOKE = ROOT / "paper_figures" / "smoke"


def test_every_main_method_is_in_the_retrieval_table_and_trains():
    table = pd.read_csv(SMOKE / "table_retrieval.csv").set_index("method")
    grid = profile_grid("smoke")
    assert sorted(table.index) == sorted(grid["methods"])
    recall = table["mean/glyphs/recall@1"]
    assert (recall >= 0.20).all(), recall[recall < 0.20].to_dict()
    assert (table["n/glyphs/recall@1"] == grid["best_k"]).all()


def test_the_tables_were_written_by_pinned_runs_on_a_named_machine():
    machines = json.loads((SMOKE / "machines.json").read_text())["machines"]
    grid = profile_grid("smoke")
    assert sum(m["runs"] for m in machines) == (len(grid["methods"]) + len(grid["variants"])) * len(grid["seeds"])
    assert all(m["cpu_kernels"]["pinned"] and m["cpu_kernels"]["cpu"] for m in machines)
