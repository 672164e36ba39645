"""Paper-style tables: mean ± std in percent with one decimal, the best of each column in bold, a caption
(unit, seed rule, ↑/↓ per column), rows grouped (deterministic / probabilistic, or a base method and its
variants), notes under the table (the grid's budget); written as csv, md and tex, rendered to HTML for
the reports index (`to_html`), and read back from the files (`read_table`).
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from ..utils import write_text_atomic
from .names import dataset_name, method_name, metric_name

LOWER_IS_BETTER = ("erc-", "eer", "confidence_aurcc")
CAPTION_PREFIX = "Table: "  # pandoc's caption line, the first paragraph of the md file


def lower_is_better(metric: str) -> bool:
    return metric.startswith(LOWER_IS_BETTER) or metric in LOWER_IS_BETTER


def direction(metric: str) -> str:
    """↓ for a metric where lower is better, else ↑."""
    return "↓" if lower_is_better(metric) else "↑"


@dataclass
class Table:
    """A paper table and what is printed around it.

    ``values``: rows ``(method, dim)``, columns ``(stat, dataset, metric)`` with stat in mean / std / n
    (`metric_table`); ``groups``: method -> group label (a label row opens each group when there are
    two or more); ``runs``: ``(method, dim)`` -> run ids ``<dataset>/<method>-<dim>/seed-<s>`` behind the
    row, relative to ``results/<profile>``; ``best_k``: the seeds a cell should have (other counts are
    printed, "n = 1" instead of "± 0.0").
    """

    values: pd.DataFrame
    caption: str = ""
    notes: list[str] = field(default_factory=list)
    groups: dict[str, str] = field(default_factory=dict)
    runs: dict[tuple[str, int], list[str]] = field(default_factory=dict)
    best_k: int | None = None

    @property
    def empty(self) -> bool:
        return self.values.empty

    @property
    def columns(self) -> list[tuple[str, str]]:
        """``(dataset, metric)`` pairs in print order."""
        return list(self.values["mean"].columns) if not self.empty else []

    def group_rows(self) -> list[tuple[str | None, tuple[str, int]]]:
        """``(group label or None, row)`` per row: the label where a group starts (only with 2+ groups)."""
        rows = list(self.values.index)
        labels = [self.groups.get(method) for method, _ in rows]
        show = len({label for label in labels if label}) > 1
        out, previous = [], object()
        for label, row in zip(labels, rows):
            out.append((label if show and label != previous else None, row))
            previous = label
        return out

    def markdown(self) -> str:
        return to_markdown(self)


def metric_table(summary: pd.DataFrame, columns: list[tuple[str, str]]) -> pd.DataFrame:
    """Rows (method, dim), columns (stat, dataset, metric) with mean/std/n cells, from `results.aggregate` output.

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


# -- cells and headers -----------------------------------------------------------------------------


def format_cell(mean: float, std: float, n: float, best_k: int | None = None) -> str:
    """``12.3 ± 0.4`` in percent; ``12.3 (n = 1)`` for one seed instead of ``± 0.0`` (plain ``12.3`` when
    the table's rule is one seed, ``best_k == 1``); ``(n = 2)`` added where n is not ``best_k``."""
    if mean is None or np.isnan(mean):
        return "–"
    n = 0 if n is None or np.isnan(n) else int(n)
    if n == 1:
        return f"{100 * mean:.1f}" + ("" if best_k == 1 else " (n = 1)")
    text = f"{100 * mean:.1f} ± {100 * std:.1f}"
    return text + (f" (n = {n})" if best_k is not None and n != best_k else "")


def _cells(table: Table, bold: tuple[str, str]) -> pd.DataFrame:
    mean, std, count = table.values["mean"], table.values["std"], table.values["n"]
    cells = pd.DataFrame(index=mean.index, columns=mean.columns, dtype=object)
    for column in mean.columns:
        values = mean[column]
        best = None
        if values.notna().any():
            best = values.min() if lower_is_better(column[1]) else values.max()
        for row in mean.index:
            m = mean.at[row, column]
            text = format_cell(m, std.at[row, column], count.at[row, column], table.best_k)
            if best is not None and not np.isnan(m) and round(100 * m, 1) == round(100 * best, 1):
                text = bold[0] + text + bold[1]
            cells.at[row, column] = text
    return cells


def single_dataset(table: Table) -> bool:
    return len({d for d, _ in table.columns}) == 1


def column_label(dataset: str, metric: str, with_dataset: bool) -> str:
    """``MAP@R ↑``, or ``CUB-200-2011 MAP@R ↑`` where a one-row header must name the dataset."""
    label = f"{metric_name(metric)} {direction(metric)}"
    return f"{dataset_name(dataset)} {label}" if with_dataset else label


# -- md ---------------------------------------------------------------------------------------------


def to_markdown(table: Table) -> str:
    """Caption line (pandoc's ``Table:``), pipe table with group rows, then the notes."""
    if table.empty:
        return (CAPTION_PREFIX + table.caption + "\n\n" if table.caption else "") + "*no complete runs*\n"
    cells = _cells(table, ("**", "**"))
    with_dataset = not single_dataset(table)
    header = ["Method", "Dim"] + [column_label(d, m, with_dataset) for d, m in table.columns]
    lines = []
    if table.caption:
        lines += [CAPTION_PREFIX + table.caption, ""]
    lines += ["| " + " | ".join(header) + " |", "|:---|---:|" + "---:|" * len(table.columns)]
    for group, row in table.group_rows():
        if group:
            lines.append(f"| *{group}* |" + " |" * (len(header) - 1))
        lines.append("| " + " | ".join([method_name(row[0]), str(row[1])] + list(cells.loc[row].values)) + " |")
    for note in table.notes:
        lines += ["", note]
    return "\n".join(lines) + "\n"


# -- tex --------------------------------------------------------------------------------------------

_TEX_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
_TEX_SYMBOLS = {"±": r"$\pm$", "↑": r"$\uparrow$", "↓": r"$\downarrow$", "–": "--", "×": r"$\times$",
                "≥": r"$\geq$", "≤": r"$\leq$", "…": r"\ldots{}", "−": "-"}


def tex_escape(text: str) -> str:
    """Plain text -> LaTeX: special characters escaped, ± ↑ ↓ – × as math or dashes."""
    return "".join(_TEX_ESCAPES.get(c, _TEX_SYMBOLS.get(c, c)) for c in str(text))


def to_latex(table: Table) -> str:
    """A booktabs table: caption, dataset header row over its metrics, group rows, notes under the tabular."""
    cells = _cells(table, ("\x00", "\x01")).map(
        lambda t: tex_escape(t).replace("\x00", "\\textbf{").replace("\x01", "}"))
    width = 2 + len(table.columns)
    lines = ["\\begin{table}[t]", "\\centering"]
    if table.caption:
        lines.append(f"\\caption{{{tex_escape(table.caption)}}}")
    lines += [f"\\begin{{tabular}}{{ll{'c' * len(table.columns)}}}", "\\toprule"]
    spans, start = [], 3
    for dataset in dict.fromkeys(d for d, _ in table.columns):
        size = sum(1 for d, _ in table.columns if d == dataset)
        spans.append((dataset, start, size))
        start += size
    lines.append(" & ".join(["", ""] + [f"\\multicolumn{{{size}}}{{c}}{{{tex_escape(dataset_name(d))}}}"
                                        for d, _, size in spans]) + " \\\\")
    lines.append("".join(f"\\cmidrule(lr){{{s}-{s + size - 1}}}" for _, s, size in spans))
    lines.append(" & ".join(["Method", "Dim"] + [tex_escape(column_label(d, m, False)) for d, m in table.columns])
                 + " \\\\")
    lines.append("\\midrule")
    for group, row in table.group_rows():
        if group:
            lines.append(f"\\multicolumn{{{width}}}{{l}}{{\\textit{{{tex_escape(group)}}}}} \\\\")
        lines.append(" & ".join([tex_escape(method_name(row[0])), str(row[1])] + list(cells.loc[row].values))
                     + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}"]
    for note in table.notes:
        lines.append(f"\\par\\smallskip{{\\footnotesize {tex_escape(note)}}}")
    lines.append("\\end{table}")
    return "\n".join(lines) + "\n"


# -- html -------------------------------------------------------------------------------------------


def to_html(table: Table, run_links: Callable[[list[str]], str] | None = None) -> str:
    """An HTML ``<table>`` with ``<caption>``, a dataset header row, group rows and the notes after it;
    ``run_links(run ids) -> html`` fills a last column that leads to the runs behind each row."""
    esc = html.escape
    caption = f"<caption>{esc(table.caption)}</caption>\n" if table.caption else ""
    if table.empty:
        return f"<table>\n{caption}</table>\n<p><i>no complete runs</i></p>"
    cells = _cells(table, ("\x00", "\x01")).map(lambda t: esc(t).replace("\x00", "<b>").replace("\x01", "</b>"))
    extra = run_links is not None
    datasets = list(dict.fromkeys(d for d, _ in table.columns))
    top = ('<tr><th rowspan="2">Method</th><th rowspan="2">Dim</th>'
           + "".join(f'<th colspan="{sum(1 for x, _ in table.columns if x == d)}">{esc(dataset_name(d))}</th>'
                     for d in datasets)
           + ('<th rowspan="2">Runs</th>' if extra else "") + "</tr>")
    second = "<tr>" + "".join(f"<th>{esc(column_label(d, m, False))}</th>" for d, m in table.columns) + "</tr>"
    width = 2 + len(table.columns) + int(extra)
    body = []
    for group, row in table.group_rows():
        if group:
            body.append(f'<tr class="group"><th colspan="{width}">{esc(group)}</th></tr>')
        values = "".join(f"<td>{cell}</td>" for cell in cells.loc[row].values)
        links = f"<td>{run_links(table.runs.get(row, []))}</td>" if extra else ""
        body.append(f'<tr><td title="{esc(row[0])}">{esc(method_name(row[0]))}</td><td>{row[1]}</td>'
                    f"{values}{links}</tr>")
    notes = "".join(f'\n<p class="note">{esc(note)}</p>' for note in table.notes)
    return (f'<table class="paper-table">\n{caption}<thead>\n{top}\n{second}\n</thead>\n<tbody>\n'
            + "\n".join(body) + f"\n</tbody>\n</table>{notes}")


# -- csv and files ----------------------------------------------------------------------------------


def to_csv(table: Table) -> str:
    """Full precision (exact float round trip), one row per (method, dim): ``method, name, group, dim``,
    columns ``<stat>/<dataset>/<metric>``, ``runs`` (space-separated run ids behind the row) and ``best_k``."""
    flat = table.values.copy()
    flat.columns = ["/".join(map(str, column)) for column in flat.columns]
    flat = flat.reset_index()
    flat.insert(1, "name", [method_name(m) for m in flat.method])
    flat.insert(2, "group", [table.groups.get(m, "") for m in flat.method])
    flat["runs"] = [" ".join(table.runs.get((m, d), [])) for m, d in zip(flat.method, flat.dim)]
    flat["best_k"] = table.best_k if table.best_k is not None else ""
    return flat.to_csv(index=False, float_format="%.17g")


def write_table(table: Table, out_dir: str | Path, name: str) -> list[Path]:
    """Write ``<name>.csv``, ``<name>.md`` and ``<name>.tex`` atomically; return their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for suffix, text in (("csv", to_csv(table)), ("md", to_markdown(table)), ("tex", to_latex(table))):
        path = out_dir / f"{name}.{suffix}"
        write_text_atomic(path, text)
        paths.append(path)
    return paths


def read_table(stem: str | Path) -> Table:
    """The `Table` written by `write_table` at ``<stem>.csv`` (values, groups, runs) and ``<stem>.md``
    (caption and notes); raises ``ValueError`` when the csv is not such a table."""
    stem = Path(stem)
    frame = pd.read_csv(stem.with_suffix(".csv"), keep_default_na=False, na_values=[""])
    stats = [c for c in frame.columns if c.split("/", 1)[0] in ("mean", "std", "n") and c.count("/") >= 2]
    if "method" not in frame or "dim" not in frame or not stats:
        raise ValueError(f"{stem.with_suffix('.csv').name} has no method / dim / <stat>/<dataset>/<metric> columns")
    values = frame.set_index(["method", "dim"])[stats].astype(float)
    values.columns = pd.MultiIndex.from_tuples([tuple(c.split("/", 2)) for c in stats])
    groups = dict(zip(frame.method, frame["group"].fillna(""))) if "group" in frame else {}
    runs = {}
    if "runs" in frame:
        runs = {(m, int(d)): str(r).split() for m, d, r in zip(frame.method, frame.dim, frame.runs.fillna(""))}
    caption, notes = "", []
    md = stem.with_suffix(".md")
    if md.is_file():
        caption, notes = _caption_and_notes(md.read_text())
    best_k = None
    if "best_k" in frame and frame.best_k.notna().any():
        best_k = int(frame.best_k.dropna().iloc[0])
    return Table(values, caption, notes, {m: g for m, g in groups.items() if g}, runs, best_k)


def _caption_and_notes(text: str) -> tuple[str, list[str]]:
    """The ``Table:`` paragraph before the pipe table and the paragraphs after it."""
    paragraphs = [p.strip() for p in text.split("\n\n") if p.strip()]
    caption = next((p[len(CAPTION_PREFIX):].replace("\n", " ") for p in paragraphs if p.startswith(CAPTION_PREFIX)),
                   "")
    last_table = max((i for i, p in enumerate(paragraphs) if p.startswith("|")), default=len(paragraphs))
    notes = [p.replace("\n", " ") for p in paragraphs[last_table + 1:]]
    return caption, notes
