"""Browse the run store from a notebook: pick a run, page through queries and their neighbours, see its
training curves and its ERC.

What ``notebooks/quickstart.ipynb`` calls. Two front ends over the same functions:

- widgets (JupyterLab, VS Code...): ``Explorer(...).widget()`` returns dropdowns for profile, dataset,
  method and run, links to the run's folder and files, a query slider (pages 1 to n) with "previous /
  next queries" buttons, and outputs that redraw on every change;
- plain parameters (papermill, nbconvert, no ipywidgets): ``Explorer(...).show(dataset=..., page=...)``
  displays the same grid, neighbour table, training curves and ERC figure once.

``use_widgets("auto")`` picks between them: widgets only when ipywidgets imports and the kernel is
driven by an interactive frontend (one that accepts ``input()``; headless executors such as papermill
do not, and could not render widgets anyway).

Classes are shown by name when the dataset knows them (glyphs: the characters), else by number.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
import numpy as np
import pandas as pd

from ..errors import ConfigError, RunError
from ..experiments import runstore
from .figures import retrieval_grid

RUN_COLUMNS = ["profile", "dataset", "method", "dim", "seed", "has_confidence", "path"]
ORDERS = ("spread", "least-confident", "most-confident")
RUN_FILES = ("config.yaml", "metrics.json", "history.csv", "provenance.json")


def list_runs(results_root: str | Path, profile: str | None = None) -> pd.DataFrame:
    """Complete runs with stored predictions, one row each (``RUN_COLUMNS``), sorted.

    ``has_confidence``: the first ``infer-*`` test set of the run stores confidences (probabilistic methods).
    """
    pattern = f"{profile or '*'}/*/*/seed-*/metrics.json"
    rows = []
    for metrics_file in sorted(Path(results_root).glob(pattern)):
        run = metrics_file.parent
        predictions = run / "predictions.npz"
        if not predictions.is_file():
            continue
        method, dim = run.parent.name.rsplit("-", 1)
        with np.load(predictions) as data:
            sets = sorted({key.rsplit("/", 1)[0] for key in data.files
                           if key.startswith("infer-") and "pairs" not in key})
            has_confidence = bool(sets) and f"{sets[0]}/confidence" in data.files
        rows.append([run.parent.parent.parent.name, run.parent.parent.name, method, int(dim),
                     int(run.name.split("-", 1)[1]), has_confidence, str(run)])
    return pd.DataFrame(rows, columns=RUN_COLUMNS)


def use_widgets(mode="auto") -> bool:
    """Whether to build the widget explorer: ``True`` / ``False`` as given, ``"auto"`` as the module doc says."""
    if mode is True or mode is False:
        return mode
    if mode != "auto":
        raise ConfigError(f"widgets must be True, False or 'auto', got {mode!r}.")
    try:
        import ipywidgets  # noqa: F401
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    kernel = getattr(shell, "kernel", None)
    return bool(kernel is not None and getattr(kernel, "_allow_stdin", False))


def read_history(run: str | Path) -> pd.DataFrame | None:
    """The run's ``history.csv`` (one row per epoch of every stage) or None when it has none."""
    path = Path(run) / "history.csv"
    if not path.is_file():
        return None
    try:
        return pd.read_csv(path)
    except (pd.errors.EmptyDataError, pd.errors.ParserError):
        return None


@dataclass
class RunView:
    """One run's first test set, ready to browse: images ``(N, H, W, 3)`` uint8, labels ``(N,)``,
    means ``(N, D)``, confidences ``(N,)`` or None, neighbours ``(N, k)`` (cosine of the means, self excluded),
    ``class_names`` (one per label, or None), ``history`` (`read_history`) and ``selected_epoch`` (the
    last stage's epoch whose checkpoint was tested, or None)."""

    run: Path
    images: np.ndarray
    labels: np.ndarray
    means: np.ndarray
    confidences: np.ndarray | None
    neighbours: np.ndarray
    class_names: list[str] | None = None
    history: pd.DataFrame | None = None
    selected_epoch: int | None = None

    @classmethod
    def load(cls, run: str | Path, data_root: str | Path, k: int = 5) -> "RunView":
        from ..experiments.explore import class_names, cosine_neighbours, stored_test_set

        if not runstore.is_complete(run):
            raise RunError(f"{run} is not a complete run (no metrics.json); train it first (./run_all.sh or grid).")
        dataset, stored = stored_test_set(run, data_root)
        images = np.stack([np.asarray(dataset[i][0]) for i in range(len(dataset))])
        confidences = stored.get("confidence")
        selection = runstore.read_metrics(run).get("selection") or {}
        return cls(Path(run), images, np.asarray(stored["labels"]), np.asarray(stored["mean"]),
                   None if confidences is None else np.asarray(confidences),
                   cosine_neighbours(stored["mean"], k), class_names(dataset), read_history(run),
                   selection.get("epoch"))

    @property
    def name(self) -> str:
        return f"{self.run.parent.parent.name} / {self.run.parent.name} / {self.run.name}"

    @property
    def orders(self) -> tuple[str, ...]:
        """The query orders this run supports: confidence orders only when it predicts confidences."""
        return ORDERS if self.confidences is not None else ORDERS[:1]

    def class_name(self, label: int) -> str:
        """The class's name (glyphs: its character) or its number."""
        label = int(label)
        if self.class_names is not None and 0 <= label < len(self.class_names):
            return self.class_names[label]
        return str(label)

    def query_order(self, order: str = "spread") -> np.ndarray:
        """All query indices in browsing order: ``spread`` (evenly over the set, so pages show many classes),
        ``least-confident`` or ``most-confident`` first (these need a run with confidences)."""
        if order not in ORDERS:
            raise ConfigError(f"unknown query order {order!r}; use {', '.join(ORDERS)}.")
        if order not in self.orders:
            raise ConfigError(f"{self.name} predicts no confidences (a deterministic method): order {order!r} "
                              f"needs a probabilistic run; use 'spread'.")
        n = len(self.labels)
        if order != "spread":
            ranked = np.argsort(self.confidences, kind="stable")
            return ranked if order == "least-confident" else ranked[::-1].copy()
        step = 37 if n > 37 and np.gcd(37, n) == 1 else 1  # a stride coprime with n visits every query once
        return (np.arange(n) * step) % n

    def num_pages(self, per_page: int = 6) -> int:
        return max(1, -(-len(self.labels) // per_page))

    def page(self, page: int, per_page: int = 6, order: str = "spread") -> np.ndarray:
        """The query indices of page ``page`` (1 is the first; wraps around past the last)."""
        ordered = self.query_order(order)
        start = ((int(page) - 1) % self.num_pages(per_page)) * per_page
        return ordered[start:start + per_page]

    def grid(self, queries: np.ndarray):
        """The retrieval grid of ``queries`` (query confidence under each query when the run has them)."""
        return retrieval_grid(self.images, self.labels, self.neighbours, np.asarray(queries), self.confidences,
                              title=f"{self.name}: queries and their {self.neighbours.shape[1]} nearest neighbours")

    def table(self, queries: np.ndarray) -> pd.DataFrame:
        """One row per query: its class, confidence, the neighbours' classes, cosine and hits."""
        normed = self.means / np.maximum(np.linalg.norm(self.means, axis=1, keepdims=True), 1e-12)
        rows = []
        for q in np.asarray(queries):
            nbrs = self.neighbours[q]
            row = {"query": int(q), "class": self.class_name(self.labels[q])}
            if self.confidences is not None:
                row["confidence"] = round(float(self.confidences[q]), 3)
            row["neighbour classes"] = " ".join(self.class_name(self.labels[n]) for n in nbrs)
            row["cosine"] = " ".join(f"{float(normed[q] @ normed[n]):.2f}" for n in nbrs)
            row["hits"] = f"{int((self.labels[nbrs] == self.labels[q]).sum())}/{len(nbrs)}"
            rows.append(row)
        return pd.DataFrame(rows).set_index("query")

    def erc_curves(self) -> dict[str, tuple[np.ndarray, np.ndarray]] | None:
        """``{"recall@1": (rejected, error), "mapr": (rejected, error)}`` or None without confidences."""
        if self.confidences is None:
            return None
        from ..metrics import retrieval_erc_curves

        curves = retrieval_erc_curves(self.means, self.labels, self.confidences)
        return {name.removeprefix("erc-"): (1.0 - np.asarray(kept), np.asarray(error))
                for name, (kept, error) in curves.items()}

    def erc_figure(self):
        """Error-versus-reject curves of this run (None without confidences): the error of the images kept
        after rejecting the least confident fraction; a falling curve means confidence predicts errors. The
        dotted line of each metric is its error over all queries, the curve random confidences give."""
        curves = self.erc_curves()
        if curves is None:
            return None
        fig, ax = plt.subplots(figsize=(6.2, 3.6))
        styles = {"recall@1": ("-", "o"), "mapr": ("--", "s")}
        for name, (rejected, error) in curves.items():
            line, marker = styles.get(name, ("-", None))
            label = "1 - MAP@R" if name == "mapr" else f"1 - {name.capitalize()}"
            (drawn,) = ax.plot(rejected, error, line, marker=marker, markevery=max(1, len(rejected) // 8),
                               markersize=4, label=label)
            overall = error[np.argmin(rejected)]  # nothing rejected: the error of every query
            ax.axhline(overall, color=drawn.get_color(), linewidth=0.9, linestyle=":",
                       label=f"random confidence: {label} of all queries ({overall:.2f})")
        ax.set_xlabel("fraction rejected (least confident first)")
        ax.set_ylabel("error of the kept queries")
        ax.set_xlim(0, 1)
        ax.set_ylim(-0.02, 1.02)
        ax.set_title(f"Error versus reject: {self.name}", fontsize=9)
        ax.legend(fontsize=7, loc="best")
        fig.tight_layout()
        return fig

    def history_figure(self):
        """Training curves from ``history.csv`` (None without one): the training loss terms (left) and the
        validation MAP@R and Recall@1 (right) per epoch over all stages, stage starts and the tested epoch
        marked."""
        history = self.history
        if history is None or history.empty:
            return None
        x = np.arange(1, len(history) + 1)
        fig, (left, right) = plt.subplots(1, 2, figsize=(9.5, 3.3))
        for column in [c for c in history.columns if c.startswith("train/") and c != "train/grad_norm"]:
            if history[column].notna().any():
                left.plot(x, history[column], marker="o", markersize=3, label=column.removeprefix("train/"))
        left.set_ylabel("training loss (epoch mean)")
        shown = [c for c in ("valid/mapr", "valid/recall@1") if c in history.columns and history[c].notna().any()]
        for column, style in zip(shown, ("-", "--")):
            right.plot(x, history[column], style, marker="o", markersize=3,
                       label={"valid/mapr": "MAP@R", "valid/recall@1": "Recall@1"}[column])
        right.set_ylabel("validation metric")
        if not shown:
            right.text(0.5, 0.5, "no validation set in this run", ha="center", va="center", transform=right.transAxes)
        stages = history["stage"].to_numpy() if "stage" in history.columns else np.zeros(len(history), int)
        for ax in (left, right):
            for start in np.flatnonzero(np.diff(stages)) + 1:
                ax.axvline(start + 0.5, color="grey", linewidth=0.8, linestyle="--")
                ax.text(start + 0.6, 0.98, f"stage {stages[start]}", transform=ax.get_xaxis_transform(),
                        fontsize=7, va="top", color="grey")
            ax.set_xlabel("epoch (all stages)")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if self.selected_epoch is not None and "epoch" in history.columns:
            last = (stages == stages.max()) & (history["epoch"].to_numpy() == self.selected_epoch)
            if last.any():
                for ax in (left, right):
                    ax.axvline(x[last][0], color="black", linewidth=0.8, linestyle=":",
                               label="tested checkpoint" if ax is right else None)
        for ax in (left, right):
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=7)
        fig.suptitle(f"Training curves: {self.name} (history.csv)", fontsize=9)
        fig.tight_layout()
        return fig

    def folder_links(self, base: str | Path | None = None) -> str:
        """Markdown links (relative to ``base``, default the working directory: the notebook's folder, against
        which JupyterLab resolves them) to the run folder and its files."""
        folder = Path(os.path.relpath(self.run, Path(base or os.getcwd()))).as_posix()
        files = [f"[{name}]({folder}/{name})" for name in RUN_FILES if (self.run / name).is_file()]
        if (self.run / "tensorboard").is_dir():
            files.append(f"`tensorboard --logdir {folder}/tensorboard`")
        return f"run folder [`{folder}/`]({folder}/): " + " · ".join(files)


def _default_run(runs: pd.DataFrame) -> pd.Series:
    """A run with confidences when there is one (its ERC is worth seeing), else the first."""
    probabilistic = runs[runs.has_confidence]
    return (probabilistic if not probabilistic.empty else runs).iloc[0]


def _width(description: str, labels) -> str:
    """A CSS width that shows the description and the longest option whole."""
    return f"{len(description) + max((len(str(label)) for label in labels), default=8) + 6}ch"


class Explorer:
    """The run store of ``results_root``, browsed one run at a time; ``profile`` is where browsing starts."""

    def __init__(self, results_root: str | Path, data_root: str | Path, profile: str | None = None, *,
                 k: int = 5, per_page: int = 6):
        self.results_root, self.data_root, self.profile = results_root, data_root, profile
        self.k, self.per_page = k, per_page
        self.runs = list_runs(results_root)
        self._views: dict[str, RunView] = {}

    def runs_of(self, profile: str | None = None) -> pd.DataFrame:
        """The complete runs of ``profile`` (None: all), without their paths."""
        rows = self.runs if profile is None else self.runs[self.runs.profile == profile]
        return rows.drop(columns="path").reset_index(drop=True)

    def select(self, dataset: str | None = None, method: str | None = None, dim: int | None = None,
               seed: int | None = None, profile: str | None = None) -> pd.Series:
        """The run matching the given fields (None: any; profile None: this explorer's profile when it has
        runs), the default run among the matches."""
        if self.runs.empty:
            raise RunError(f"no complete run in {self.results_root}; run the cells above or ./run_all.sh first.")
        if profile is None and self.profile in set(self.runs.profile):
            profile = self.profile
        chosen = self.runs
        for column, value in (("profile", profile), ("dataset", dataset), ("method", method), ("dim", dim),
                              ("seed", seed)):
            if value is not None:
                if value not in set(chosen[column]):
                    raise ConfigError(f"no run with {column}={value!r}; available: "
                                      f"{sorted(set(chosen[column]))}.")
                chosen = chosen[chosen[column] == value]
        return _default_run(chosen)

    def view(self, row: pd.Series) -> RunView:
        if row.path not in self._views:
            self._views[row.path] = RunView.load(row.path, self.data_root, k=self.k)
        return self._views[row.path]

    def show(self, dataset: str | None = None, method: str | None = None, dim: int | None = None,
             seed: int | None = None, page: int = 1, order: str = "spread", profile: str | None = None) -> RunView:
        """The plain-parameters explorer: display the chosen run's grid, neighbour table, curves and ERC once."""
        from IPython.display import Markdown, display

        view = self.view(self.select(dataset, method, dim, seed, profile))
        queries = view.page(page, self.per_page, order)
        pages = view.num_pages(self.per_page)
        folder = Path(os.path.relpath(view.run, os.getcwd())).as_posix()
        display(Markdown(f"**{view.name}** (`{folder}/`): page {(int(page) - 1) % pages + 1} of {pages} "
                         f"({order} order); set `explore_*` / `query_page` in the parameters cell to browse, or "
                         f"run in JupyterLab for the interactive version."))
        for item in (view.grid(queries), view.table(queries), _history_view(view), _erc_view(view)):
            _display(item)
        return view

    def widget(self, order: str = "spread"):
        """The interactive explorer: profile / dataset / method / run dropdowns, links to the run folder,
        query paging, grid, table, training curves and ERC."""
        import ipywidgets as w
        from IPython.display import Markdown

        start = self.select()  # raises the explanatory RunError on an empty store
        style = {"description_width": "initial"}

        def dropdown(description, labels):
            return w.Dropdown(description=description, style=style, layout=w.Layout(width=_width(description, labels)))

        runs = self.runs
        profile = dropdown("profile", runs.profile)
        dataset = dropdown("dataset", runs.dataset)
        method = dropdown("method", runs.method)
        run = dropdown("run", ["dim 0000, seed 000 (no confidences)"])
        ordering = dropdown("order", ORDERS)
        page = w.IntSlider(value=1, min=1, max=1, description="page", continuous_update=False, style=style)
        previous = w.Button(description="previous queries", icon="arrow-left")
        following = w.Button(description="next queries", icon="arrow-right")
        status = w.HTML()
        links, problems, grid_out, table_out, curves_out, erc_out = (w.Output() for _ in range(6))
        for output, name in ((links, "links"), (problems, "problems"), (grid_out, "grid"), (table_out, "table"),
                             (curves_out, "curves"), (erc_out, "erc")):
            output.add_class(f"pml-explorer-{name}")
        quiet = {"on": False}  # set while options are refilled, so observers do not redraw half-updated choices

        def refill(widget, options, preferred):
            values = [value for _, value in options] if options and isinstance(options[0], tuple) else options
            quiet["on"] = True
            widget.options = options
            widget.value = preferred if preferred in values else values[0]
            quiet["on"] = False

        def rows(level):
            chosen = runs[runs.profile == profile.value]
            if level in ("method", "run"):
                chosen = chosen[chosen.dataset == dataset.value]
            if level == "run":
                chosen = chosen[chosen.method == method.value]
            return chosen

        def fill_datasets(*_):
            refill(dataset, sorted(set(rows("dataset").dataset)), dataset.value or start.dataset)
            fill_methods()

        def fill_methods(*_):
            refill(method, sorted(set(rows("method").method)), method.value or start.method)
            fill_runs()

        def fill_runs(*_):
            options = [(f"dim {r.dim}, seed {r.seed}" + ("" if r.has_confidence else " (no confidences)"), r.path)
                       for r in rows("run").itertuples()]
            refill(run, options, run.value or start.path)
            redraw_run()

        def current() -> RunView:
            return self.view(runs[runs.path == run.value].iloc[0])

        def redraw_run(*_):
            view = current()
            refill(ordering, list(view.orders), ordering.value or order)
            ordering.disabled = len(view.orders) == 1
            ordering.tooltip = None if len(view.orders) > 1 else "a deterministic run has no confidences"
            quiet["on"] = True
            page.max, page.value = view.num_pages(self.per_page), 1
            quiet["on"] = False
            _fill(links, Markdown(view.folder_links()))
            _fill(curves_out, _history_view(view))
            _fill(erc_out, _erc_view(view))
            redraw_queries()

        def redraw_queries(*_):
            view = current()
            queries = view.page(page.value, self.per_page, ordering.value)
            status.value = (f"<b>{view.name}</b>: {len(view.labels)} test images, page {page.value} of "
                            f"{page.max} ({ordering.value} order)")
            _fill(grid_out, view.grid(queries))
            _fill(table_out, view.table(queries))

        def unless_quiet(callback):
            def observer(change):
                if quiet["on"]:
                    return
                try:
                    callback()
                except Exception:  # shown under the controls: a callback's exception would only reach the log
                    import traceback

                    problems.outputs = ({"output_type": "stream", "name": "stderr", "text": traceback.format_exc()},)
                else:
                    problems.outputs = ()
            return observer

        def step(delta):
            page.value = (page.value - 1 + delta) % page.max + 1

        profile.observe(unless_quiet(fill_datasets), names="value")
        dataset.observe(unless_quiet(fill_methods), names="value")
        method.observe(unless_quiet(fill_runs), names="value")
        run.observe(unless_quiet(redraw_run), names="value")
        ordering.observe(unless_quiet(redraw_queries), names="value")
        page.observe(unless_quiet(redraw_queries), names="value")
        previous.on_click(lambda _: unless_quiet(lambda: step(-1))(None))
        following.on_click(lambda _: unless_quiet(lambda: step(1))(None))
        refill(profile, sorted(set(runs.profile)), start.profile)
        fill_datasets()
        return w.VBox([w.HBox([profile, dataset, method, run]), links,
                       w.HBox([ordering, page, previous, following]), status, problems, grid_out, table_out,
                       curves_out, erc_out])


def _history_view(view: RunView):
    """The run's training-curves figure, or a note saying why there is none."""
    from IPython.display import Markdown

    fig = view.history_figure()
    return fig if fig is not None else Markdown(f"*{view.name} has no history.csv: no training curves.*")


def _erc_view(view: RunView):
    """The run's ERC figure, or a note saying why there is none."""
    from IPython.display import Markdown

    fig = view.erc_figure()
    return fig if fig is not None else Markdown(
        f"*{view.name} has no confidences (a deterministic method): no ERC curve.*")


def _display(item) -> None:
    """Display a figure (as a PNG, then closed so the inline backend does not show it twice) or anything else."""
    from IPython.display import display

    display(_bundle(item)[0], raw=True) if isinstance(item, Figure) else display(item)


def _bundle(item) -> tuple[dict, dict]:
    """``(data, metadata)`` of ``item`` as a display message carries it; a figure is rendered to PNG and closed."""
    if isinstance(item, Figure):
        import base64
        import io

        buffer = io.BytesIO()
        item.savefig(buffer, format="png", bbox_inches="tight")
        plt.close(item)
        return {"image/png": base64.b64encode(buffer.getvalue()).decode("ascii"), "text/plain": repr(item)}, {}
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None:
        return {"text/plain": repr(item)}, {}
    return shell.display_formatter.format(item)


def _fill(output, *items) -> None:
    """Replace an Output widget's contents with ``items`` in one state update. (Displaying inside ``with output:``
    from a widget callback races with the frontend learning the output's message id: a figure can land in
    JupyterLab's log console instead.)"""
    bundles = [_bundle(item) for item in items]
    output.outputs = tuple({"output_type": "display_data", "data": data, "metadata": metadata}
                           for data, metadata in bundles)
