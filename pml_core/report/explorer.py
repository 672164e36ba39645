"""Browse the run store from a notebook: pick a run, page through queries and their neighbours, see its ERC.

What ``notebooks/quickstart.ipynb`` calls. Two front ends over the same functions:

- widgets (JupyterLab, VS Code...): ``Explorer(...).widget()`` returns dropdowns for dataset, method and
  run, a query slider with "previous / next queries" buttons, and outputs that redraw on every change;
- plain parameters (papermill, nbconvert, no ipywidgets): ``Explorer(...).show(dataset=..., page=...)``
  displays the same grid, neighbour table and ERC figure once.

``use_widgets("auto")`` picks between them: widgets only when ipywidgets imports and the kernel is
driven by an interactive frontend (one that accepts ``input()``; headless executors such as papermill
do not, and could not render widgets anyway).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..errors import ConfigError, RunError
from ..experiments import runstore
from .figures import retrieval_grid

RUN_COLUMNS = ["profile", "dataset", "method", "dim", "seed", "has_confidence", "path"]


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


@dataclass
class RunView:
    """One run's first test set, ready to browse: images ``(N, H, W, 3)`` uint8, labels ``(N,)``,
    means ``(N, D)``, confidences ``(N,)`` or None, neighbours ``(N, k)`` (cosine of the means, self excluded)."""

    run: Path
    images: np.ndarray
    labels: np.ndarray
    means: np.ndarray
    confidences: np.ndarray | None
    neighbours: np.ndarray

    @classmethod
    def load(cls, run: str | Path, data_root: str | Path, k: int = 5) -> "RunView":
        from ..experiments.explore import neighbours_and_images

        if not runstore.is_complete(run):
            raise RunError(f"{run} is not a complete run (no metrics.json); train it first (./run_all.sh or grid).")
        images, labels, means, confidences, neighbours = neighbours_and_images(run, data_root, k=k)
        return cls(Path(run), images, np.asarray(labels), np.asarray(means),
                   None if confidences is None else np.asarray(confidences), neighbours)

    @property
    def name(self) -> str:
        return f"{self.run.parent.parent.name} / {self.run.parent.name} / {self.run.name}"

    def query_order(self, order: str = "spread") -> np.ndarray:
        """All query indices in browsing order: ``spread`` (evenly over the set, so pages show many classes),
        ``least-confident`` or ``most-confident`` first (``spread`` when the run has no confidences)."""
        n = len(self.labels)
        if order in ("least-confident", "most-confident") and self.confidences is not None:
            ranked = np.argsort(self.confidences, kind="stable")
            return ranked if order == "least-confident" else ranked[::-1].copy()
        if order not in ("spread", "least-confident", "most-confident"):
            raise ConfigError(f"unknown query order {order!r}; use spread, least-confident or most-confident.")
        step = 37 if n > 37 and np.gcd(37, n) == 1 else 1  # a stride coprime with n visits every query once
        return (np.arange(n) * step) % n

    def page(self, page: int, per_page: int = 6, order: str = "spread") -> np.ndarray:
        """The query indices of page ``page`` (0-based, wraps around)."""
        ordered = self.query_order(order)
        pages = max(1, -(-len(ordered) // per_page))
        start = (page % pages) * per_page
        return ordered[start:start + per_page]

    def num_pages(self, per_page: int = 6) -> int:
        return max(1, -(-len(self.labels) // per_page))

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
            row = {"query": int(q), "class": int(self.labels[q])}
            if self.confidences is not None:
                row["confidence"] = round(float(self.confidences[q]), 3)
            row["neighbour classes"] = " ".join(str(int(self.labels[n])) for n in nbrs)
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
        after rejecting the least confident fraction; a falling curve means confidence predicts errors."""
        curves = self.erc_curves()
        if curves is None:
            return None
        fig, ax = plt.subplots(figsize=(5.2, 3.4))
        styles = {"recall@1": ("-", "o"), "mapr": ("--", "s")}
        for name, (rejected, error) in curves.items():
            line, marker = styles.get(name, ("-", None))
            ax.plot(rejected, error, line, marker=marker, markevery=max(1, len(rejected) // 8), markersize=4,
                    label=f"1 - {name}" if name == "mapr" else f"error@1 ({name})")
            ax.axhline(error[-1], color="grey", linewidth=0.6, linestyle=":")
        ax.set_xlabel("fraction rejected (least confident first)")
        ax.set_ylabel("error of the kept queries")
        ax.set_xlim(0, 1)
        ax.set_title(f"ERC: {self.name}", fontsize=9)
        ax.legend(fontsize=8)
        fig.tight_layout()
        return fig


def _default_run(runs: pd.DataFrame) -> pd.Series:
    """A run with confidences when there is one (its ERC is worth seeing), else the first."""
    probabilistic = runs[runs.has_confidence]
    return (probabilistic if not probabilistic.empty else runs).iloc[0]


class Explorer:
    """The run store of ``results_root`` (optionally one profile), browsed one run at a time."""

    def __init__(self, results_root: str | Path, data_root: str | Path, profile: str | None = None, *,
                 k: int = 5, per_page: int = 6):
        self.results_root, self.data_root, self.profile = results_root, data_root, profile
        self.k, self.per_page = k, per_page
        self.runs = list_runs(results_root, profile)
        self._views: dict[str, RunView] = {}

    def select(self, dataset: str | None = None, method: str | None = None, dim: int | None = None,
               seed: int | None = None) -> pd.Series:
        """The run matching the given fields (None: any; the default run among the matches)."""
        if self.runs.empty:
            raise RunError(f"no complete run in {self.results_root}"
                           + (f" for profile {self.profile}" if self.profile else "")
                           + "; run the cells above or ./run_all.sh first.")
        chosen = self.runs
        for column, value in (("dataset", dataset), ("method", method), ("dim", dim), ("seed", seed)):
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
             seed: int | None = None, page: int = 0, order: str = "spread") -> RunView:
        """The plain-parameters explorer: display the chosen run's grid, neighbour table and ERC once."""
        from IPython.display import Markdown, display

        view = self.view(self.select(dataset, method, dim, seed))
        queries = view.page(page, self.per_page, order)
        display(Markdown(f"**{view.name}**: page {page % view.num_pages(self.per_page) + 1} of "
                         f"{view.num_pages(self.per_page)} ({order} order); set `explore_*` / `query_page` in "
                         f"the parameters cell to browse, or run in JupyterLab for the interactive version."))
        _display_figure(view.grid(queries))
        display(view.table(queries))
        _display_erc(view)
        return view

    def widget(self, order: str = "spread"):
        """The interactive explorer: dataset / method / run dropdowns, query paging, grid, table and ERC."""
        import ipywidgets as w

        if self.runs.empty:
            self.select()  # raises the explanatory RunError
        start = _default_run(self.runs)
        dataset = w.Dropdown(options=sorted(set(self.runs.dataset)), value=start.dataset, description="dataset")
        method = w.Dropdown(description="method")
        run = w.Dropdown(description="run")
        ordering = w.Dropdown(options=["spread", "least-confident", "most-confident"], value=order,
                              description="order")
        page = w.IntSlider(value=0, min=0, max=0, description="page", continuous_update=False,
                           readout_format="d")
        previous = w.Button(description="previous queries", icon="arrow-left")
        following = w.Button(description="next queries", icon="arrow-right")
        status = w.HTML()
        grid_out, table_out, erc_out = w.Output(), w.Output(), w.Output()
        busy = {"on": False}

        def runs_of(ds, m=None):
            rows = self.runs[self.runs.dataset == ds]
            return rows if m is None else rows[rows.method == m]

        def current_row():
            rows = runs_of(dataset.value, method.value)
            return rows[rows.path == run.value].iloc[0]

        def fill_methods(*_):
            busy["on"] = True
            methods = sorted(set(runs_of(dataset.value).method))
            method.options = methods
            method.value = start.method if start.method in methods else methods[0]
            busy["on"] = False
            fill_runs()

        def fill_runs(*_):
            busy["on"] = True
            rows = runs_of(dataset.value, method.value)
            run.options = [(f"dim {r.dim}, seed {r.seed}" + ("" if r.has_confidence else " (no confidences)"),
                            r.path) for r in rows.itertuples()]
            run.value = rows.path.iloc[0]
            busy["on"] = False
            redraw_run()

        def redraw_run(*_):
            if busy["on"]:
                return
            view = self.view(current_row())
            busy["on"] = True
            page.max, page.value = view.num_pages(self.per_page) - 1, 0
            busy["on"] = False
            with erc_out:
                erc_out.clear_output(wait=True)
                _display_erc(view)
            redraw_queries()

        def redraw_queries(*_):
            if busy["on"]:
                return
            view = self.view(current_row())
            queries = view.page(page.value, self.per_page, ordering.value)
            status.value = (f"<b>{view.name}</b>: {len(view.labels)} test images, page {page.value + 1} of "
                            f"{page.max + 1}")
            with grid_out:
                grid_out.clear_output(wait=True)
                _display_figure(view.grid(queries))
            with table_out:
                table_out.clear_output(wait=True)
                from IPython.display import display

                display(view.table(queries))

        def step(delta):
            page.value = (page.value + delta) % (page.max + 1)

        dataset.observe(fill_methods, names="value")
        method.observe(lambda change: None if busy["on"] else fill_runs(), names="value")
        run.observe(redraw_run, names="value")
        ordering.observe(redraw_queries, names="value")
        page.observe(redraw_queries, names="value")
        previous.on_click(lambda _: step(-1))
        following.on_click(lambda _: step(1))
        fill_methods()
        return w.VBox([w.HBox([dataset, method, run]), w.HBox([ordering, page, previous, following]), status,
                       grid_out, table_out, erc_out])


def _display_figure(fig) -> None:
    """Show a figure as a PNG output and close it (so the inline backend does not show it twice)."""
    from IPython.display import display

    display(fig)
    plt.close(fig)


def _display_erc(view: RunView) -> None:
    from IPython.display import Markdown, display

    fig = view.erc_figure()
    if fig is None:
        display(Markdown(f"*{view.name} has no confidences (a deterministic method): no ERC curve.*"))
    else:
        _display_figure(fig)
