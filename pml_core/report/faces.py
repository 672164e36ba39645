"""The face-verification table from the run store: accuracy on each verification bin, TPR@FPR,
pair confidence quality, and IJB TAR@FAR when an IJB result file sits in a run folder.

The slice comes from ``configs/grids/faces.yaml`` (one section per profile). In the tiny and smoke profiles
there is no face data: the table shows the glyph runs' sampled pairs (``infer-glyphs-pairs``) as a stand-in,
and says so in its caption (`STAND_IN`).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from ..config import load_yaml
from ..experiments.grid import CONFIGS_ROOT
from . import paper, tables

BIN_METRICS = ("accuracy_10fold", "max_accuracy", "tpr@0.001", "tpr@0.0001")
PAIR_METRICS = ("confidence_auroc",)
IJB_FILE = "ijb.json"  # {"ijbb": {"tar@far=1e-4": ...}, "ijbc": {...}} written by `face_ijb_results`
IJB_FARS = ("tar@far=1e-5", "tar@far=1e-4")
STAND_IN = ("STAND-IN: no face data in this profile; the columns are the glyph runs' sampled verification "
            "pairs (infer-glyphs-pairs), not face benchmarks")


def face_slice(profile: str, **given) -> dict:
    """The face slice of ``profile`` (configs/grids/faces.yaml) with the given (non-None) entries replacing it."""
    sections = load_yaml(CONFIGS_ROOT / "grids" / "faces.yaml")
    slice_ = {"variants": [], "ablations": {}, **sections[profile if profile in sections else "smoke"]}
    slice_.update({key: value for key, value in given.items() if value is not None})
    return slice_


def is_stand_in(slice_: dict) -> bool:
    return all(name.startswith("glyphs") for name in slice_["bins"])


def face_columns(slice_: dict) -> list[tuple[str, str]]:
    columns = [(f"infer-{name}", metric) for name in slice_["bins"] for metric in BIN_METRICS]
    return columns + [(f"infer-{name}", metric) for name in slice_["bins"][:1] for metric in PAIR_METRICS]


def _bin_table(summary: pd.DataFrame, columns: list[tuple[str, str]]) -> pd.DataFrame:
    """Rows (method, dim), columns (bin, metric): the bins become the table's column groups."""
    if summary.empty:
        return pd.DataFrame()
    data = pd.concat([summary[(summary.test_set == t) & (summary.metric == m)] for t, m in columns])
    if data.empty:
        return pd.DataFrame()
    data = data.assign(dataset=data.test_set.str.replace("infer-", "", regex=False))
    return _pivot(data, columns)


def _pivot(data: pd.DataFrame, columns: list[tuple[str, str]]) -> pd.DataFrame:
    table = data.pivot_table(index=["method", "dim"], columns=["dataset", "metric"], values=["mean", "std", "n"])
    ordered = [(t.replace("infer-", ""), m) for t, m in columns if (t.replace("infer-", ""), m) in table["mean"].columns]
    return table.reindex(columns=pd.MultiIndex.from_tuples([(s, d, m) for s in ("mean", "std", "n") for d, m in ordered]))


def ijb_frame(results_root, profile: str, slice_: dict, methods: list[str]) -> pd.DataFrame:
    """IJB TAR@FAR of the slice's runs (rows as `paper.summary`), from ``<run>/ijb.json`` files."""
    rows = []
    for dataset in slice_["datasets"]:
        for method in methods:
            for dim in slice_["dims"]:
                for run in paper.run_dirs(results_root, profile, dataset, method, dim, slice_["seeds"]):
                    path = Path(run) / IJB_FILE
                    if not path.is_file():
                        continue
                    for name, values in json.loads(path.read_text()).items():
                        for metric in IJB_FARS:
                            if values.get(metric) is not None:
                                rows.append([dataset, method, dim, name, metric, float(values[metric])])
    frame = pd.DataFrame(rows, columns=["dataset", "method", "dim", "test_set", "metric", "value"])
    if frame.empty:
        return frame
    grouped = frame.groupby(["dataset", "method", "dim", "test_set", "metric"])["value"]
    return grouped.agg(mean="mean", std=lambda v: v.std(ddof=0), n="count").reset_index()


def face_table(results_root, profile: str, slice_: dict, output_dir, methods: list[str] | None = None
               ) -> tuple[tables.Table, list[Path]]:
    """The face table of the slice; writes ``table_face_verification.{csv,md,tex}`` into ``output_dir``."""
    methods = methods or list(slice_["methods"])
    groups = dict(sorted(paper.method_groups(methods).items(), key=lambda item: item[1] != "Deterministic"))
    methods = [m for m in groups if m in methods]
    summary = paper.summary(results_root, profile, slice_, methods)
    ijb = ijb_frame(results_root, profile, slice_, methods)
    columns = face_columns(slice_) + [(f"infer-{name}", metric) for name in sorted(set(ijb.test_set)) if not ijb.empty
                                      for metric in IJB_FARS]
    if not ijb.empty:
        summary = pd.concat([summary, ijb.assign(test_set="infer-" + ijb.test_set)], ignore_index=True)
    runs = paper.best_runs(results_root, profile, slice_, methods)
    title = ("Face verification: 10-fold accuracy, max accuracy, TPR at FPR 1e-3 / 1e-4 per bin, pair confidence "
             "AUROC; IJB TAR@FAR")
    caption = paper.caption(title, profile, slice_, runs)
    notes = [note for note in [paper.budget_note(profile)] if note]
    if is_stand_in(slice_):
        caption = f"{STAND_IN}. {caption}"
    table = tables.Table(paper.ordered(_bin_table(summary, columns), methods, groups), caption, notes, groups,
                         paper.run_ids(runs), slice_["best_k"])
    if table.empty:  # no complete run in the slice: nothing to write
        return table, []
    return table, tables.write_table(table, output_dir, "table_face_verification")


def face_ijb_results(results_root, profile: str, slice_: dict, ijb_root, *, methods: list[str] | None = None,
                     sets=("ijbb", "ijbc"), device: str = "cpu") -> list[Path]:
    """Run IJB-B / IJB-C on every complete run of the slice that lacks it (mean aggregation, cosine; PFE fusion
    and MLS too for probabilistic methods) and write ``<run>/ijb.json``; returns the files written."""
    from ..config import num_stages, parse_config
    from ..train import checkpoint as ckpt
    from ..data.formats.ijb import ijb_folder
    from ..errors import DataError
    from ..evaluate_ijb import ijb_evaluate

    written = []
    for dataset in slice_["datasets"]:
        for method in methods or slice_["methods"]:
            for dim in slice_["dims"]:
                for run in paper.run_dirs(results_root, profile, dataset, method, dim, slice_["seeds"]):
                    path = Path(run) / IJB_FILE
                    if path.is_file():
                        continue
                    cfg = parse_config({**load_yaml(Path(run) / "config.yaml"), "device": device})
                    checkpoint = ckpt.stage_dir(run, num_stages(cfg) - 1) / f"{cfg.stage_resume}.pth"
                    if not checkpoint.is_file():
                        continue
                    result = {}
                    for name in sets:
                        try:
                            ijb_folder(ijb_root, name)
                        except DataError:
                            continue
                        fused = paper.is_probabilistic(method)
                        result[name] = ijb_evaluate(cfg, checkpoint, ijb_root, name, progress=False,
                                                    aggregation="pfe" if fused else "mean",
                                                    scorer="mls" if fused else "cosine")
                    path.write_text(json.dumps(result, indent=2))
                    written.append(path)
    return written
