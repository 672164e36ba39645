"""The paper's tables and figures from the run store: what each notebook calls.

A *slice* is the part of the grid a notebook reports: ``datasets, methods, variants, dims, seeds, best_k``
and ``ablations`` (base method -> its design-choice variants), defaulting to ``configs/grids/<profile>.yaml``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from ..experiments import grid, runstore
from . import results, tables

# Columns of each table: (test set pattern, metric). Test sets as REFERENCE.md 7 names them.
TABLE_COLUMNS = {
    "table_retrieval": [("infer-{dataset}", m) for m in ("mapr", "recall@1", "recall@2", "recall@4", "recall@8")],
    "table_confidence": [("infer-{dataset}", "erc-mapr"), ("infer-{dataset}", "erc-recall@1"),
                         ("infer-{dataset}-lossy", "quality_scc"), ("infer-{dataset}-pairs", "confidence_auroc")],
    "table_verification": [("infer-{dataset}-pairs", m)
                           for m in ("max_accuracy", "accuracy_10fold", "auc", "tpr@0.001", "eer")],
    "table_ablations": [("infer-{dataset}", "mapr"), ("infer-{dataset}", "recall@1"),
                        ("infer-{dataset}", "erc-mapr"), ("infer-{dataset}-lossy", "quality_scc")],
}
CAPTIONS = {
    "table_retrieval": "Retrieval quality: MAP@R and Recall@K on the open-set test classes",
    "table_confidence": "Confidence quality: ERC (lower is better), quality correlation, pair confidence AUROC",
    "table_verification": "Verification on sampled test pairs",
    "table_ablations": "Design-choice variants against their base methods",
}


def grid_slice(profile: str, **given) -> dict:
    """The profile's default slice with the given (non-None) entries replacing its defaults."""
    slice_ = {"variants": [], "ablations": {}, **grid.profile_grid(profile)}
    slice_.update({key: value for key, value in given.items() if value is not None})
    return slice_


@lru_cache(maxsize=None)
def is_probabilistic(method: str) -> bool:
    """Whether a method family's final stage predicts a distribution with confidences (gmm or vmf)."""
    from ..config import num_stages, parse_config, stage_config

    cfg = parse_config(grid.run_config_dict("tiny", "glyphs", method, 8, 0), check_components=False)
    return stage_config(cfg, num_stages(cfg) - 1).model_params.distribution_type != "dirac"


def ensure_slice(profile: str, slice_: dict, *, results_root, data_root, device: str = "cpu",
                 methods: list[str] | None = None, logger: str = "tensorboard", echo=None) -> grid.GridReport:
    """Train or reuse the runs of a slice (``methods`` defaults to its methods plus variants); ``logger`` and
    ``echo`` (progress lines, e.g. ``print``) as in `grid.ensure_runs`."""
    methods = methods or list(dict.fromkeys(slice_["methods"] + slice_.get("variants", [])))
    return grid.ensure_runs(profile, slice_["datasets"], methods, slice_["dims"], slice_["seeds"],
                            results_root=results_root, data_root=data_root, overrides=[f"device={device}"],
                            logger=logger, echo=echo)


def summary(results_root, profile: str, slice_: dict, methods: list[str] | None = None) -> pd.DataFrame:
    """Mean / std / n over the best ``best_k`` seeds of every run of the slice."""
    methods = methods or list(dict.fromkeys(slice_["methods"] + slice_.get("variants", [])))
    runs = results.load_runs(results_root, profile)
    runs = runs[runs.dataset.isin(slice_["datasets"]) & runs.method.isin(methods) & runs.dim.isin(slice_["dims"])
                & runs.seed.isin(slice_["seeds"])]
    return results.aggregate(results.best_seeds(runs, slice_["best_k"]))


def ordered(table: pd.DataFrame, methods: list[str]) -> pd.DataFrame:
    """Rows in the order of ``methods`` (then dim)."""
    if table.empty:
        return table
    rank = {m: i for i, m in enumerate(methods)}
    order = sorted(table.index, key=lambda row: (rank.get(row[0], len(rank)), row[1]))
    return table.loc[order]


def paper_table(name: str, results_root, profile: str, slice_: dict, output_dir, methods: list[str]) -> tuple[pd.DataFrame, list[Path]]:
    """Build table ``name`` for ``methods`` and write its csv / md / tex into ``output_dir``."""
    table = ordered(tables.metric_table(summary(results_root, profile, slice_, methods), TABLE_COLUMNS[name]), methods)
    caption = f"{CAPTIONS[name]} ({profile} profile; mean ± std over the best {slice_['best_k']} seeds)"
    return table, tables.write_table(table, output_dir, name, caption)


def ablation_methods(slice_: dict) -> list[str]:
    """Base methods each followed by their variants, in the slice's order."""
    return [m for base, variants in slice_.get("ablations", {}).items() for m in [base, *variants]]


# -- curves from stored predictions ------------------------------------------------------------


def run_dirs(results_root, profile: str, dataset: str, method: str, dim: int, seeds: list[int]) -> list[Path]:
    paths = [runstore.run_dir(results_root, profile, dataset, method, dim, s) for s in seeds]
    return [p for p in paths if runstore.is_complete(p)]


def erc_frame(results_root, profile: str, slice_: dict, methods: list[str], metric: str = "recall@1") -> pd.DataFrame:
    """Error-versus-reject curves of every run: columns method, dataset, seed, rejected, error.

    Neighbours are ranked by the cosine of the stored test-set means (the tables' ERC values use each
    model's own scorer, which for MLS-scored methods can rank slightly differently).
    """
    from ..metrics import retrieval_erc_curves

    rows = []
    for dataset in slice_["datasets"]:
        for method in methods:
            for dim in slice_["dims"]:
                for run in run_dirs(results_root, profile, dataset, method, dim, slice_["seeds"]):
                    stored = runstore.read_predictions(run)[f"infer-{dataset}"]
                    if "confidence" not in stored:
                        continue
                    curves = retrieval_erc_curves(stored["mean"], stored["labels"], stored["confidence"])
                    kept, error = curves[f"erc-{metric}"]
                    rows.append(pd.DataFrame({"method": method, "dim": dim, "dataset": dataset,
                                              "seed": int(run.name.split("-")[1]),
                                              "rejected": 1.0 - np.asarray(kept), "error": np.asarray(error)}))
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(
        columns=["method", "dim", "dataset", "seed", "rejected", "error"])


def filter_out_frame(results_root, profile: str, slice_: dict, methods: list[str]) -> pd.DataFrame:
    """``filter-out/<f>/<metric>`` values of every run: columns method, dataset, seed, fraction, metric, value."""
    runs = results.load_runs(results_root, profile)
    runs = runs[runs.method.isin(methods) & runs.dataset.isin(slice_["datasets"]) & runs.dim.isin(slice_["dims"])
                & runs.seed.isin(slice_["seeds"]) & (runs.test_set == runs.dataset.map(lambda d: f"infer-{d}"))
                & runs.metric.str.startswith("filter-out/")]
    parts = runs.metric.str.split("/", expand=True)
    if runs.empty:
        return pd.DataFrame(columns=["method", "dim", "dataset", "seed", "fraction", "metric", "value"])
    return pd.DataFrame({"method": runs.method.values, "dim": runs.dim.values, "dataset": runs.dataset.values,
                         "seed": runs.seed.values, "fraction": parts[1].astype(float).values,
                         "metric": parts[2].values, "value": runs.value.values})


def quality_frame(results_root, profile: str, slice_: dict, methods: list[str]) -> pd.DataFrame:
    """Per-image confidence against crop fraction on the lossy test set: method, dataset, seed, crop, confidence."""
    rows = []
    for dataset in slice_["datasets"]:
        for method in methods:
            for dim in slice_["dims"]:
                for run in run_dirs(results_root, profile, dataset, method, dim, slice_["seeds"]):
                    stored = runstore.read_predictions(run).get(f"infer-{dataset}-lossy", {})
                    if "confidence" not in stored or "quality" not in stored:
                        continue
                    rows.append(pd.DataFrame({"method": method, "dim": dim, "dataset": dataset,
                                              "seed": int(run.name.split("-")[1]), "crop": stored["quality"],
                                              "confidence": stored["confidence"]}))
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(
        columns=["method", "dim", "dataset", "seed", "crop", "confidence"])
