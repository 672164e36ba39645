"""Paper-style tables: mean +- std in percent with one decimal, best per column in bold; csv, md, tex."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..utils import write_text_atomic

LOWER_IS_BETTER = ("erc-", "eer", "confidence_aurcc")


def lower_is_better(metric: str) -> bool:
    return metric.startswith(LOWER_IS_BETTER) or metric in LOWER_IS_BETTER


def metric_table(summary: pd.DataFrame, columns: list[tuple[str, str]]) -> pd.DataFrame:
    """Rows (method, dim), columns (dataset, metric) with mean/std/n cells, from `results.aggregate` output.

    ``columns`` lists ``(test set, metric)`` pairs; the test set is a format string with ``{dataset}``
    (e.g. ``("infer-{dataset}", "mapr")``, ``("infer-{dataset}-lossy", "quality_scc")``).
    """
    frames = []
    for dataset, group in summary.groupby("dataset"):
        for test_set, metric in columns:
            frames.append(group[(group.test_set == test_set.format(dataset=dataset)) & (group.metric == metric)])
    data = pd.concat(frames) if frames else pd.DataFrame()
    if data.empty:
        return pd.DataFrame()
    table = data.pivot_table(index=["method", "dim"], columns=["dataset", "metric"], values=["mean", "std", "n"])
    ordered = [(d, m) for d in sorted(data.dataset.unique()) for _, m in columns if (d, m) in table["mean"].columns]
    return table.reindex(columns=pd.MultiIndex.from_tuples(
        [(stat, d, m) for stat in ("mean", "std", "n") for d, m in ordered]))


def _cells(table: pd.DataFrame, bold: tuple[str, str]) -> pd.DataFrame:
    mean, std = table["mean"], table["std"]
    best = {}
    for column in mean.columns:
        values = mean[column]
        if values.notna().any():
            best[column] = values.min() if lower_is_better(column[1]) else values.max()
    cells = pd.DataFrame(index=mean.index, columns=mean.columns, dtype=object)
    for column in mean.columns:
        for row in mean.index:
            m, s = mean.at[row, column], std.at[row, column]
            if np.isnan(m):
                cells.at[row, column] = "–"
                continue
            text = f"{100 * m:.1f} ± {100 * s:.1f}"
            if column in best and round(100 * m, 1) == round(100 * best[column], 1):
                text = bold[0] + text + bold[1]
            cells.at[row, column] = text
    return cells


def to_markdown(table: pd.DataFrame) -> str:
    cells = _cells(table, ("**", "**"))
    header = ["method", "dim"] + [f"{d} {m}" for d, m in cells.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for (method, dim), row in cells.iterrows():
        lines.append("| " + " | ".join([str(method), str(dim)] + list(row.values)) + " |")
    return "\n".join(lines) + "\n"


def to_latex(table: pd.DataFrame, caption: str = "") -> str:
    cells = _cells(table, ("\\textbf{", "}")).map(lambda t: t.replace("±", "$\\pm$").replace("–", "--"))
    columns = "ll" + "c" * len(cells.columns)
    header = " & ".join(["method", "dim"] + [f"{d} {m}".replace("@", "@").replace("_", "\\_") for d, m in cells.columns])
    body = [" & ".join([str(method).replace("_", "\\_"), str(dim)] + list(row.values)) + " \\\\"
            for (method, dim), row in cells.iterrows()]
    return "\n".join(["\\begin{table}[t]", "\\centering", f"\\caption{{{caption}}}" if caption else "",
                      f"\\begin{{tabular}}{{{columns}}}", "\\toprule", header + " \\\\", "\\midrule", *body,
                      "\\bottomrule", "\\end{tabular}", "\\end{table}"]) + "\n"


def to_csv(table: pd.DataFrame) -> str:
    """Full precision, one row per (method, dim), columns ``<stat>/<dataset>/<metric>``."""
    flat = table.copy()
    flat.columns = ["/".join(map(str, column)) for column in flat.columns]
    return flat.reset_index().to_csv(index=False, float_format="%.10g")


def write_table(table: pd.DataFrame, out_dir: str | Path, name: str, caption: str = "") -> list[Path]:
    """Write ``<name>.csv``, ``<name>.md`` and ``<name>.tex`` atomically; return their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for suffix, text in (("csv", to_csv(table)), ("md", to_markdown(table)), ("tex", to_latex(table, caption))):
        path = out_dir / f"{name}.{suffix}"
        write_text_atomic(path, text)
        paths.append(path)
    return paths
