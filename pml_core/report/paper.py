"""The paper's tables and figures from the run store: what each notebook calls.

A *slice* is the part of the grid a notebook reports: ``datasets, methods, variants, dims, seeds, best_k``
and ``ablations`` (base method -> its design-choice variants), defaulting to ``configs/grids/<profile>.yaml``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from ..experiments import grid, runstore
from . import results, tables
from .names import method_name

# Columns of each table: (test set pattern, metric). Test sets as docs/reference.md §7 names them.
TABLE_COLUMNS = {
    "table_retrieval": [("infer-{dataset}", m) for m in ("mapr", "recall@1", "recall@2", "recall@4", "recall@8")],
    "table_confidence": [("infer-{dataset}", "erc-mapr"), ("infer-{dataset}", "erc-recall@1"),
                         ("infer-{dataset}-lossy", "quality_scc"), ("infer-{dataset}-pairs", "confidence_auroc")],
    "table_verification": [("infer-{dataset}-pairs", m)
                           for m in ("max_accuracy", "accuracy_10fold", "auc", "tpr@0.001", "eer")],
    "table_ablations": [("infer-{dataset}", "mapr"), ("infer-{dataset}", "recall@1"),
                        ("infer-{dataset}", "erc-mapr"), ("infer-{dataset}-lossy", "quality_scc")],
}
TITLES = {
    "table_retrieval": "Retrieval quality on the open-set test classes: MAP@R and Recall@K",
    "table_confidence": ("Confidence quality of the probabilistic methods: area under the error-versus-reject curve "
                         "(ERC) of Recall@1 and of MAP@R, Spearman correlation of confidence with image quality "
                         "on the lossy test set (quality SCC), AUROC of pair confidence for a correct verification"),
    "table_verification": "Verification on sampled test pairs",
    "table_ablations": "Design-choice variants, each under its base method",
}
SET_NAMES = {"valid": "validation", "train": "training"}


def grid_slice(profile: str, **given) -> dict:
    """The profile's default slice with the given (non-None) entries replacing its defaults."""
    slice_ = {"variants": [], "ablations": {}, **grid.profile_grid(profile)}
    slice_.update({key: value for key, value in given.items() if value is not None})
    return slice_


def budget_note(profile: str) -> str | None:
    """The grid's ``budget:`` text (``configs/grids/<profile>.yaml``) as the note printed under every table."""
    text = grid.profile_grid(profile).get("budget")
    return f"Budget: {' '.join(str(text).split())}" if text else None


@lru_cache(maxsize=None)
def is_probabilistic(method: str) -> bool:
    """Whether a method family's final stage predicts a distribution with confidences (gmm or vmf)."""
    from ..config import num_stages, parse_config, stage_config

    cfg = parse_config(grid.run_config_dict("tiny", "glyphs", method, 8, 0), check_components=False)
    return stage_config(cfg, num_stages(cfg) - 1).model_params.distribution_type != "dirac"


def ensure_slice(profile: str, slice_: dict, *, results_root, data_root, device: str = "cpu",
                 methods: list[str] | None = None, logger: str = "tensorboard", echo=None, launch=None,
                 retry_failed: bool = False) -> grid.GridReport:
    """Train or reuse the runs of a slice (``methods`` defaults to its methods plus variants).

    ``logger``, ``echo`` (progress lines, e.g. ``print``), ``launch`` and ``retry_failed`` (workers, Slurm): as
    in `pml_core.experiments.grid.ensure_runs`.
    """
    methods = methods or list(dict.fromkeys(slice_["methods"] + slice_.get("variants", [])))
    return grid.ensure_runs(profile, slice_["datasets"], methods, slice_["dims"], slice_["seeds"],
                            results_root=results_root, data_root=data_root, overrides=[f"device={device}"],
                            logger=logger, echo=echo, launch=launch, retry_failed=retry_failed)


def slice_runs(results_root, profile: str, slice_: dict, methods: list[str] | None = None) -> pd.DataFrame:
    """The metric rows (`results.load_runs`) of the best ``best_k`` seeds of every (dataset, method, dim) of
    the slice, methods in the order of ``methods``: what every table and curve of a report is computed from."""
    methods = methods or list(dict.fromkeys(slice_["methods"] + slice_.get("variants", [])))
    runs = results.load_runs(results_root, profile)
    runs = runs[runs.dataset.isin(slice_["datasets"]) & runs.method.isin(methods) & runs.dim.isin(slice_["dims"])
                & runs.seed.isin(slice_["seeds"])]
    runs = results.best_seeds(runs, slice_["best_k"])
    rank = {m: i for i, m in enumerate(methods)}  # curves and legends in the order of the table's rows
    return runs.sort_values(["dataset", "method", "dim", "seed"], key=lambda c: c.map(rank) if c.name == "method" else c,
                            kind="stable")


def summary(results_root, profile: str, slice_: dict, methods: list[str] | None = None) -> pd.DataFrame:
    """Mean / std / n over the best ``best_k`` seeds of every run of the slice."""
    return results.aggregate(slice_runs(results_root, profile, slice_, methods))


def best_runs(results_root, profile: str, slice_: dict, methods: list[str] | None = None) -> pd.DataFrame:
    """One row per run behind the tables: dataset, method, dim, seed, run (id ``<dataset>/<method>-<dim>/seed-<s>``
    relative to ``results/<profile>``) and path."""
    keys = ["dataset", "method", "dim", "seed"]
    runs = slice_runs(results_root, profile, slice_, methods)[keys].drop_duplicates().reset_index(drop=True)
    runs["run"] = [f"{d}/{m}-{dim}/seed-{s}" for d, m, dim, s in runs[keys].itertuples(index=False)]
    runs["path"] = [Path(results_root, profile, run) for run in runs.run]
    return runs


def run_ids(runs: pd.DataFrame) -> dict[tuple[str, int], list[str]]:
    """(method, dim) -> the run ids of `best_runs` behind that table row."""
    return {key: list(group.run) for key, group in runs.groupby(["method", "dim"])}


def selection_rule(runs: pd.DataFrame) -> str:
    """How the seeds were ranked, from the ``selection_*`` keys of the runs' configs (one run per method,
    its last stage): e.g. "validation MAP@R"."""
    from .names import metric_name

    rules = set()
    for path in runs.drop_duplicates("method").path:
        config = Path(path) / "config.yaml"
        if not config.is_file():
            continue
        raw = yaml.safe_load(config.read_text()) or {}
        trainer = {**raw.get("trainer_params", {}), **((raw.get("stages") or [{}])[-1] or {}).get("trainer_params", {})}
        if "selection_metric" not in trainer:
            continue
        rules.add(f"{SET_NAMES.get(trainer.get('selection_dataset'), trainer.get('selection_dataset'))} "
                  f"{metric_name(trainer['selection_metric'])}" + (" (lower first)" if trainer.get("selection_minimize")
                                                                   else ""))
    return " / ".join(sorted(rules)) or "their selection score"


def caption(title: str, profile: str, slice_: dict, runs: pd.DataFrame) -> str:
    """A table caption: what, where, the unit, the seed rule and the reading keys."""
    from .names import dataset_name

    datasets = ", ".join(dataset_name(d) for d in slice_["datasets"])
    k, n = slice_["best_k"], len(slice_["seeds"])
    chosen = f"the best {k} of {n} seeds" if k < n else f"all {n} seeds"
    if k == 1:
        cells = f"the value of {'the best 1 of ' + str(n) + ' seeds' if n > 1 else 'one seed'} (n = 1: no std)"
    else:
        cells = f"mean ± std over {chosen}"
    return (f"{title}; {datasets}, {profile} profile. Values in % (×100): {cells} per method and dimension, "
            f"seeds ranked by {selection_rule(runs)}; (n = …) marks a cell with another number of seeds. "
            "↑: higher is better, ↓: lower is better; bold: best of its column.")


def method_groups(methods: list[str]) -> dict[str, str]:
    """method -> "Deterministic" | "Probabilistic"."""
    return {m: "Probabilistic" if is_probabilistic(m) else "Deterministic" for m in methods}


def ordered(table: pd.DataFrame, methods: list[str], groups: dict[str, str] | None = None) -> pd.DataFrame:
    """Rows in the order of ``methods`` (then dim); with ``groups``, group by group in first-seen order."""
    if table.empty:
        return table
    rank = {m: i for i, m in enumerate(methods)}
    group_rank = {g: i for i, g in enumerate(dict.fromkeys((groups or {}).get(m) for m in methods))}
    order = sorted(table.index, key=lambda row: (group_rank.get((groups or {}).get(row[0]), len(group_rank)),
                                                 rank.get(row[0], len(rank)), row[1]))
    return table.loc[order]


def paper_table(name: str, results_root, profile: str, slice_: dict, output_dir, methods: list[str]
                ) -> tuple[tables.Table, list[Path]]:
    """Build table ``name`` for ``methods`` and write its csv / md / tex into ``output_dir``."""
    if name == "table_ablations":
        groups = {m: f"{method_name(base)} and its variants" for base, variants in slice_.get("ablations", {}).items()
                  for m in [base, *variants]}
    else:
        groups = method_groups(methods)
        groups = dict(sorted(groups.items(), key=lambda item: item[1] != "Deterministic"))  # deterministic first
    methods = [m for m in groups if m in methods] + [m for m in methods if m not in groups]
    runs = best_runs(results_root, profile, slice_, methods)
    values = ordered(tables.metric_table(summary(results_root, profile, slice_, methods), TABLE_COLUMNS[name]),
                     methods, groups)
    table = tables.Table(values, caption(TITLES[name], profile, slice_, runs),
                         [note for note in [budget_note(profile)] if note], groups, run_ids(runs), slice_["best_k"])
    return table, tables.write_table(table, output_dir, name)


def ablation_methods(slice_: dict) -> list[str]:
    """Base methods each followed by their variants, in the slice's order."""
    return [m for base, variants in slice_.get("ablations", {}).items() for m in [base, *variants]]


# -- curves of the best runs ---------------------------------------------------------------------
#
# Every curve is drawn from the runs `best_runs` selects: the best ``best_k`` seeds, the same runs as
# the tables, so that the area under an ERC curve is the table's ERC value.

ERC_METRICS = ("erc-recall@1", "erc-mapr")


def run_dirs(results_root, profile: str, dataset: str, method: str, dim: int, seeds: list[int]) -> list[Path]:
    paths = [runstore.run_dir(results_root, profile, dataset, method, dim, s) for s in seeds]
    return [p for p in paths if runstore.is_complete(p)]


def query_errors(stored: dict) -> tuple[dict[str, np.ndarray], bool]:
    """Per-query ERC errors of a stored test set ``{metric: (N,) with NaN for non-queries}`` and whether they
    are the evaluation's own (exact) or, for runs evaluated before they were stored, recomputed here with
    the cosine of the stored means (the run's scorer may rank differently: MLS-scored methods)."""
    if all(f"errors-{m}" in stored for m in ERC_METRICS):
        return {m: stored[f"errors-{m}"] for m in ERC_METRICS}, True
    from ..metrics import retrieval_metrics

    errors: dict = {}
    retrieval_metrics(stored["mean"], stored["labels"], stored["confidence"], recall_k=(1,),
                      metrics=("erc-recall@1", "erc-mapr"), query_errors=errors)
    return errors, False


def erc_frame(results_root, profile: str, slice_: dict, methods: list[str]) -> pd.DataFrame:
    """Error-versus-reject curves of the best runs: columns dataset, method, dim, seed, metric (``erc-recall@1``
    | ``erc-mapr``), rejected (fraction of queries rejected, least confident first), error (mean error of
    the kept queries), oracle (the same with the errors themselves as confidence), exact (False: errors
    recomputed, see `query_errors`). The mean of a run's ``error`` column is its ERC value."""
    from ..metrics import erc_curve

    rows = []
    for run in best_runs(results_root, profile, slice_, methods).itertuples(index=False):
        stored = runstore.read_predictions(run.path)[f"infer-{run.dataset}"]
        if "confidence" not in stored:
            continue
        errors, exact = query_errors(stored)
        for metric in ERC_METRICS:
            valid = ~np.isnan(errors[metric])
            e, c = errors[metric][valid], stored["confidence"][valid]
            kept, error = erc_curve(e, c)
            _, oracle = erc_curve(e, -e)
            rows.append(pd.DataFrame({"dataset": run.dataset, "method": run.method, "dim": run.dim, "seed": run.seed,
                                      "metric": metric, "rejected": 1.0 - kept, "error": error, "oracle": oracle,
                                      "exact": exact}))
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(
        columns=["dataset", "method", "dim", "seed", "metric", "rejected", "error", "oracle", "exact"])


def filter_out_frame(results_root, profile: str, slice_: dict, methods: list[str]) -> pd.DataFrame:
    """``filter-out/<f>/<metric>`` values of the best runs: columns dataset, method, dim, seed, fraction, metric, value."""
    runs = slice_runs(results_root, profile, slice_, methods)
    runs = runs[(runs.test_set == runs.dataset.map(lambda d: f"infer-{d}")) & runs.metric.str.startswith("filter-out/")]
    if runs.empty:
        return pd.DataFrame(columns=["dataset", "method", "dim", "seed", "fraction", "metric", "value"])
    parts = runs.metric.str.split("/", expand=True)
    return pd.DataFrame({"dataset": runs.dataset.values, "method": runs.method.values, "dim": runs.dim.values,
                         "seed": runs.seed.values, "fraction": parts[1].astype(float).values,
                         "metric": parts[2].values, "value": runs.value.values})


def quality_frame(results_root, profile: str, slice_: dict, methods: list[str]) -> pd.DataFrame:
    """Per-image confidence against crop fraction on the lossy test set of the best runs: dataset, method,
    dim, seed, crop, confidence."""
    rows = []
    for run in best_runs(results_root, profile, slice_, methods).itertuples(index=False):
        stored = runstore.read_predictions(run.path).get(f"infer-{run.dataset}-lossy", {})
        if "confidence" not in stored or "quality" not in stored:
            continue
        rows.append(pd.DataFrame({"dataset": run.dataset, "method": run.method, "dim": run.dim, "seed": run.seed,
                                  "crop": stored["quality"], "confidence": stored["confidence"]}))
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(
        columns=["dataset", "method", "dim", "seed", "crop", "confidence"])


EMBEDDING_RULE = "the probabilistic run with the best validation MAP@R among the runs of the tables"


def embedding_run(results_root, profile: str, slice_: dict, methods: list[str]) -> dict | None:
    """The run `fig_embeddings` shows (`EMBEDDING_RULE`): ``{dataset, method, dim, seed, path, valid_mapr}``
    of the best run by its ``valid`` MAP@R (first dataset of the slice; ties: the earlier method, the
    smaller dim and seed); None when the slice has no such run."""
    rows = slice_runs(results_root, profile, slice_, methods)
    rows = rows[(rows.dataset == slice_["datasets"][0]) & (rows.test_set == "valid") & (rows.metric == "mapr")]
    rows = rows[rows.method.isin(methods) & rows.value.notna()]
    if rows.empty:
        return None
    rank = {m: i for i, m in enumerate(methods)}
    rows = rows.assign(rank=rows.method.map(rank)).sort_values(["value", "rank", "dim", "seed"],
                                                                ascending=[False, True, True, True])
    best = rows.iloc[0]
    return {"dataset": best.dataset, "method": best.method, "dim": int(best.dim), "seed": int(best.seed),
            "path": runstore.run_dir(results_root, profile, best.dataset, best.method, int(best.dim), int(best.seed)),
            "valid_mapr": float(best.value)}


def class_names(run, data_root, test_set: str):
    """The printable class names of a run's test set (the glyph characters), or None when it has none."""
    from ..data import build_datasets
    from ..experiments.explore import load_run_config

    dataset = build_datasets(load_run_config(run).dataset_params, data_root).tests.get(test_set)
    return getattr(dataset, "chars", None)


# -- what the notebooks print ------------------------------------------------------------------------

REPO_ROOT = Path(__file__).resolve().parent.parent.parent


def written(paths) -> str:
    """The "written:" lines of a notebook: the files relative to the repository (absolute outside it)."""
    def shown(path):
        path = Path(path).resolve()
        return path.relative_to(REPO_ROOT).as_posix() if path.is_relative_to(REPO_ROOT) else str(path)

    return "written:" + "".join(f"\n  {shown(p)}" for p in paths) if paths else "written: nothing"
