"""Read the run store into a long DataFrame and keep the best k of n seeds."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

COLUMNS = ["profile", "dataset", "method", "dim", "seed", "test_set", "metric", "value"]


def load_runs(results_root: str | Path, profile: str) -> pd.DataFrame:
    """Every complete run of a profile, one row per (run, test set, metric).

    The run's selection score goes in the rows with ``test_set == "selection"``.
    """
    rows = []
    for metrics_file in sorted(Path(results_root, profile).glob("*/*/seed-*/metrics.json")):
        run = metrics_file.parent
        method, dim = run.parent.name.rsplit("-", 1)
        metrics = json.loads(metrics_file.read_text())
        for test_set, values in metrics.items():
            for metric, value in values.items():
                if isinstance(value, bool) or not isinstance(value, (int, float, type(None))):
                    continue
                rows.append([profile, run.parent.parent.name, method, int(dim), int(run.name.split("-", 1)[1]),
                             test_set, metric, math.nan if value is None else float(value)])
    return pd.DataFrame(rows, columns=COLUMNS)


def best_seeds(runs: pd.DataFrame, k: int) -> pd.DataFrame:
    """Keep, per (dataset, method, dim), the ``k`` seeds with the best selection score (docs/reference.md §9.5)."""
    if runs.empty:
        return runs
    selection = runs[(runs.test_set == "selection") & (runs.metric == "score")]
    minimize = runs[(runs.test_set == "selection") & (runs.metric == "minimize")].set_index(
        ["dataset", "method", "dim", "seed"])["value"]
    keep = []
    for key, group in selection.groupby(["dataset", "method", "dim"]):
        ascending = bool(minimize.get((*key, group.seed.iloc[0]), 0.0))
        ordered = group.sort_values(["value", "seed"], ascending=[ascending, True], na_position="last")
        keep += [(*key, seed) for seed in ordered.seed.head(k)]
    index = runs.set_index(["dataset", "method", "dim", "seed"]).index
    return runs[index.isin(keep)]


def aggregate(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean, std (population, as the reference) and count per (dataset, method, dim, test_set, metric)."""
    grouped = runs.groupby(["dataset", "method", "dim", "test_set", "metric"])["value"]
    return grouped.agg(mean="mean", std=lambda v: v.std(ddof=0), n="count").reset_index()
