"""Figures of the notebooks: retrieval grids, 2-D embedding views, and the paper's curves (ERC, filter-out,
confidence against quality), one line per (method, dim) in the method's colour (`palette`), in percent,
with the paper's names (greyscale-readable: markers per method, line styles per dim)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from . import palette
from .names import dataset_name, method_name

RIGHT, WRONG = (0.1, 0.65, 0.2), (0.85, 0.1, 0.1)


def _show(ax, image: np.ndarray, border=None) -> None:
    ax.imshow(image, cmap=None if image.ndim == 3 else "gray", interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(border is not None)
        if border is not None:
            spine.set_edgecolor(border)
            spine.set_linewidth(4)
            spine.set_linestyle("-" if border == RIGHT else "--")  # readable without colour


def retrieval_grid(images: np.ndarray, labels: np.ndarray, neighbours: np.ndarray, queries: np.ndarray,
                   confidences: np.ndarray | None = None, title: str = ""):
    """A row per query: the query, then its neighbours framed solid green (right) or dashed red (wrong).

    ``images`` (N, H, W, 3) uint8; ``neighbours`` (N, k) gallery indices; ``queries`` (Q,) indices.
    """
    k = neighbours.shape[1]
    fig, axes = plt.subplots(len(queries), k + 1, figsize=(1.5 * (k + 1) + 1.2, 1.5 * len(queries)), squeeze=False)
    for row, query in enumerate(queries):
        _show(axes[row, 0], images[query])
        caption = f"query {query}" + (f"\nconf {confidences[query]:.2f}" if confidences is not None else "")
        axes[row, 0].set_ylabel(caption, fontsize=10, rotation=0, ha="right", va="center", labelpad=8)
        for col, neighbour in enumerate(neighbours[query]):
            _show(axes[row, col + 1], images[neighbour], RIGHT if labels[neighbour] == labels[query] else WRONG)
    axes[0, 0].set_title("query", fontsize=11)
    for col in range(k):
        axes[0, col + 1].set_title(f"#{col + 1}", fontsize=11)
    if title:
        fig.suptitle(title + "\nsolid green frame: same class as the query; dashed red: another class", fontsize=12)
    fig.tight_layout()
    return fig


def pca_2d(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, D) -> ((N, 2) projection on the two leading principal components, (2,) fraction of the variance
    each explains)."""
    centred = vectors - vectors.mean(axis=0, keepdims=True)
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    variance = singular ** 2
    return centred @ vt[:2].T, variance[:2] / max(variance.sum(), 1e-30)


def embedding_scatter(vectors: np.ndarray, labels: np.ndarray, confidences: np.ndarray | None = None,
                      max_classes: int = 20, title: str = "Test embeddings (PCA)", class_names=None,
                      subtitle: str = ""):
    """2-D PCA view of the embeddings of the ``max_classes`` largest classes, coloured by class and
    marker-shaped in cycles (greyscale-readable); point size follows the confidence when given.

    The PCA is fitted on the shown points; the axes say how much of their variance each component explains.
    Legends: the classes (``class_names[label]`` when given, e.g. the glyph characters) and, with
    confidences, three marker sizes with the confidences they stand for.
    """
    classes, counts = np.unique(labels, return_counts=True)
    chosen = classes[np.argsort(-counts, kind="stable")[:max_classes]]
    mask = np.isin(labels, chosen)
    points, explained = pca_2d(vectors[mask])
    shown_labels = labels[mask]

    def size_of(c):
        return 8 + 70 * (c - low) / (span + 1e-12)

    sizes = np.full(len(points), 22.0)
    if confidences is not None:
        c = np.asarray(confidences, float)[mask]
        low, span = float(c.min()), float(np.ptp(c))
        sizes = size_of(c)
    fig, ax = plt.subplots(figsize=(8.6, 5.6))
    markers = "os^vD<>pP*X"
    cmap = plt.get_cmap("tab20")
    handles = []
    for index, label in enumerate(chosen):
        selected = shown_labels == label
        name = str(class_names[label]) if class_names is not None else f"class {label}"
        ax.scatter(points[selected, 0], points[selected, 1], s=sizes[selected], color=cmap(index % 20),
                   marker=markers[index % len(markers)], alpha=0.8, linewidths=0)
        handles.append(ax.scatter([], [], s=30, color=cmap(index % 20), marker=markers[index % len(markers)],
                                  label=name))
    ax.set_xlabel(f"PC 1 ({100 * explained[0]:.1f} % of the variance)", fontsize=10)
    ax.set_ylabel(f"PC 2 ({100 * explained[1]:.1f} % of the variance)" if len(explained) > 1 else "PC 2", fontsize=10)
    ax.set_title(title + (f"\n{subtitle}" if subtitle else ""), fontsize=11)
    classes_legend = ax.legend(handles=handles, title="test class", fontsize=8, title_fontsize=9, ncol=2,
                               loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    if confidences is not None:
        ax.add_artist(classes_legend)
        levels = np.quantile(c, [0.05, 0.5, 0.95])
        size_handles = [ax.scatter([], [], s=size_of(v), color="0.4", marker="o", label=f"{v:.3g}") for v in levels]
        ax.legend(handles=size_handles, title="marker size:\nconfidence\n(5th, 50th, 95th pct.)", fontsize=8,
                  title_fontsize=9, loc="lower left", bbox_to_anchor=(1.01, 0.0), frameon=False, labelspacing=1.2)
    fig.tight_layout()
    return fig


def save_figure(fig, out_dir: str | Path, name: str) -> list[Path]:
    """Save ``<name>.png`` and ``<name>.pdf`` (the PDF without a creation date, so that a rerun on the same
    results writes the same bytes)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{name}.png", out_dir / f"{name}.pdf"]
    fig.savefig(paths[0], dpi=130, bbox_inches="tight")
    fig.savefig(paths[1], bbox_inches="tight", metadata={"CreationDate": None})
    return paths


# -- curves: one line per (method, dim), mean over the best seeds, a ±1 sd band -----------------------


def _percent(ax, axis: str = "y") -> None:
    from matplotlib.ticker import PercentFormatter

    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(PercentFormatter(xmax=100, decimals=None))


def _thin(n: int, points: int = 400) -> np.ndarray:
    """Indices of at most ``points`` samples of an n-point curve, both ends kept (for drawing only)."""
    return np.unique(np.linspace(0, n - 1, min(n, points)).round().astype(int))


def _seed_stats(group, x: str, y: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Per-x mean and population std over the seeds of one (method, dim), and the number of seeds."""
    stats = group.groupby(x)[y].agg(["mean", lambda v: v.std(ddof=0)])
    return stats.index.to_numpy(float), stats.iloc[:, 0].to_numpy(float), stats.iloc[:, 1].to_numpy(float), \
        group.seed.nunique()


def _line(ax, xs, mean, std, method: str, dim: int, dims: list[int], label: str, band: bool = True,
          clip=(0.0, 100.0), markers: int = 8):
    colour = palette.method_colour(method)
    index = _thin(len(xs))
    line, = ax.plot(xs[index], mean[index], color=colour, linestyle=palette.dim_linestyle(dim, dims), linewidth=1.8,
                    marker=palette.method_marker(method), markevery=max(1, len(index) // markers), markersize=5,
                    label=label)
    if band and np.any(std > 0):
        lo, hi = mean - std, mean + std
        if clip is not None:
            lo, hi = np.clip(lo, *clip), np.clip(hi, *clip)
        ax.fill_between(xs[index], lo[index], hi[index], color=colour, alpha=0.15, linewidth=0)
    return line


def _limits(ax, values: np.ndarray, lo: float = 0.0, hi: float = 100.0, pad: float = 0.06) -> None:
    """y limits around the data, padded, never outside [lo, hi]."""
    values = values[np.isfinite(values)]
    if not values.size:
        return
    top, bottom = float(values.max()), float(values.min())
    margin = max(pad * (top - bottom), 0.5)
    ax.set_ylim(max(lo, bottom - margin), min(hi, top + margin))


def _curve_key(method: str, dim: int) -> str:
    return f"{method_name(method)}, {dim}-D"


def _seed_note(seeds_used: dict, best_k: int | None, num_seeds: int | None) -> str:
    """What a line and its band stand for (the first sentence of a figure's note)."""
    if best_k and num_seeds:
        rule = f"mean over the best {best_k} of {num_seeds} seeds (the tables' runs)"
    else:
        rule = "mean over " + "/".join(map(str, sorted(set(seeds_used.values())))) + " seed(s)"
    band = ("band: ± 1 standard deviation across those seeds, clipped to [0, 100] %"
            if max(seeds_used.values(), default=1) > 1 else "one seed per line: no band")
    return f"Lines: {rule}; {band}."


def _panels(rows: int, cols: int, legend_entries: int):
    """A grid of panels, each tall enough for its legend below it."""
    fig, axes = plt.subplots(rows, cols, figsize=(6.4 * cols, (3.9 + 0.2 * legend_entries) * rows), squeeze=False)
    return fig, axes


def _finish(fig, title: str, note: str) -> None:
    """Title on top, the note (what lines and bands mean) at the bottom."""
    fig.suptitle(title, fontsize=12.5)
    fig.text(0.01, 0.005, note, fontsize=8.5, ha="left", va="bottom", wrap=True)
    fig.tight_layout(rect=(0, 0.035, 1, 0.98))


def _legend_below(ax, handles, ncol: int | None = None, **kwargs) -> None:
    """The legend under ``ax``: two columns for more than 8 entries unless ``ncol`` says otherwise."""
    ax.legend(handles=handles, fontsize=8.5, loc="upper center", bbox_to_anchor=(0.5, -0.15), frameon=False,
              ncol=ncol or (2 if len(handles) > 8 else 1), **kwargs)


ERC_LABELS = {"erc-recall@1": ("ERC-Recall@1", "error of the kept queries, 100 − Recall@1"),
              "erc-mapr": ("ERC-MAP@R", "error of the kept queries, 100 − AP@R")}


@dataclass
class ErcLine:
    """The ERC curve of one (dataset, metric, method, dim) over its seeds.

    ``rejected, mean, std, oracle`` (n,) in percent, for drawing. ``area`` is the mean over the seeds of
    each seed's ERC (a fraction, as the tables store it: each seed's is its ``metrics.json`` value, bit for
    bit, when its errors are ``exact``), ``oracle_area`` the same for the oracle ordering, ``random_area``
    the mean overall error (what random confidences give: flat at every rejection level).
    """

    rejected: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    oracle: np.ndarray
    area: float
    oracle_area: float
    random_area: float
    seeds: int
    exact: bool


def erc_lines(frame) -> dict[tuple[str, str, str, int], ErcLine]:
    """(dataset, metric, method, dim) -> `ErcLine`, from `paper.erc_frame`."""
    lines = {}
    for (dataset, metric, method, dim), group in frame.groupby(["dataset", "metric", "method", "dim"], sort=False):
        per_seed = [g for _, g in group.groupby("seed")]
        sizes = {len(g) for g in per_seed}
        if len(sizes) != 1:
            raise ValueError(f"{method}-{dim} on {dataset}: the seeds' test sets differ in size ({sorted(sizes)}); "
                             "their curves cannot be averaged")
        error = np.stack([g.error.to_numpy(float) for g in per_seed])
        oracle = np.stack([g.oracle.to_numpy(float) for g in per_seed])
        lines[(dataset, metric, method, int(dim))] = ErcLine(
            100 * per_seed[0].rejected.to_numpy(float), 100 * error.mean(0), 100 * error.std(0), 100 * oracle.mean(0),
            float(np.mean([e.mean() for e in error])), float(np.mean([o.mean() for o in oracle])),
            float(error[:, -1].mean()), len(per_seed), bool(group.exact.all()))
    return lines


def erc_figure(frame, best_k: int | None = None, num_seeds: int | None = None):
    """Error-versus-reject curves from `paper.erc_frame`: a panel per (dataset, ERC metric), a line per
    (method, dim) with its ± sd band, the method's oracle (dotted) and random (dash-dotted) baselines,
    and every curve's area (= the confidence table's ERC value) in the legend."""
    from matplotlib.lines import Line2D

    lines = erc_lines(frame)
    datasets = list(dict.fromkeys(frame.dataset))
    metrics = [m for m in ERC_LABELS if m in set(frame.metric)]
    curves = list(dict.fromkeys((m, int(d)) for m, d in zip(frame.method, frame.dim)))
    dims = sorted({d for _, d in curves})
    # One legend column: each entry carries three areas, two columns would run into the next panel's legend.
    fig, axes = _panels(len(datasets), len(metrics), len(curves) + 3)
    keys = [Line2D([], [], color="0.3", linestyle=":", linewidth=1.1, label="oracle: the errors rejected first"),
            Line2D([], [], color="0.3", linestyle="-.", linewidth=0.9, label="random: flat at the overall error")]
    for r, dataset in enumerate(datasets):
        for c, metric in enumerate(metrics):
            ax, drawn = axes[r, c], []
            for method, dim in curves:
                line = lines.get((dataset, metric, method, dim))
                if line is None:
                    continue
                label = (f"{_curve_key(method, dim)}: {100 * line.area:.1f} (oracle {100 * line.oracle_area:.1f}, "
                         f"random {100 * line.random_area:.1f})" + ("" if line.exact else " *"))
                handle = _line(ax, line.rejected, line.mean, line.std, method, dim, dims, label)
                index = _thin(len(line.rejected))
                ax.plot(line.rejected[index], line.oracle[index], color=handle.get_color(), linestyle=":",
                        linewidth=1.1)
                ax.axhline(100 * line.random_area, color=handle.get_color(), linestyle="-.", linewidth=0.9, alpha=0.8)
                drawn.append(handle)
            name, ylabel = ERC_LABELS[metric]
            ax.set_title(f"{name} on {dataset_name(dataset)}", fontsize=11)
            ax.set_xlabel("queries rejected, least confident first", fontsize=10)
            ax.set_ylabel(ylabel, fontsize=10)
            ax.set(xlim=(0, 100), ylim=(0, 100))
            _percent(ax, "x")
            _percent(ax, "y")
            ax.grid(alpha=0.3)
            _legend_below(ax, drawn + keys, ncol=1, title_fontsize=8.5,
                          title=f"area under each curve = {name} of the table, % (lower is better)")
    note = _seed_note({k[2:]: v.seeds for k, v in lines.items()}, best_k, num_seeds)
    if not all(line.exact for line in lines.values()):
        note += (" * run evaluated before per-query errors were stored: errors recomputed from the stored means "
                 "with the cosine, the area may differ from the table.")
    _finish(fig, "Error versus reject: error of the queries kept after rejecting the least confident", note)
    return fig


FILTER_OUT_LABELS = {"recall@1": "Recall@1", "mapr": "MAP@R"}


def filter_out_figure(frame, best_k: int | None = None, num_seeds: int | None = None,
                      metrics=("recall@1", "mapr")):
    """Metric of the kept images against the fraction filtered out (least confident first, queries and
    gallery), from `paper.filter_out_frame`: a panel per (dataset, metric), a line per (method, dim)."""
    frame = frame[frame.metric.isin(metrics)].assign(value=lambda f: 100 * f.value, fraction=lambda f: 100 * f.fraction)
    datasets = list(dict.fromkeys(frame.dataset))
    metrics = [m for m in metrics if m in set(frame.metric)]
    curves = list(dict.fromkeys((m, int(d)) for m, d in zip(frame.method, frame.dim)))
    dims = sorted({d for _, d in curves})
    fig, axes = _panels(len(datasets), len(metrics), len(curves) if len(curves) <= 8 else len(curves) // 2)
    seeds_used = {}
    for r, dataset in enumerate(datasets):
        for c, metric in enumerate(metrics):
            ax, drawn, shown = axes[r, c], [], []
            part = frame[(frame.dataset == dataset) & (frame.metric == metric)]
            for method, dim in curves:
                group = part[(part.method == method) & (part.dim == dim)]
                if group.empty:
                    continue
                xs, mean, std, seeds_used[(method, dim)] = _seed_stats(group, "fraction", "value")
                drawn.append(_line(ax, xs, mean, std, method, dim, dims, _curve_key(method, dim), markers=len(xs)))
                shown.append(np.clip(np.concatenate([mean - std, mean + std]), 0, 100))
            name = FILTER_OUT_LABELS.get(metric, metric)
            ax.set_title(f"{name} on {dataset_name(dataset)}", fontsize=11)
            ax.set_xlabel("images filtered out, least confident first", fontsize=10)
            ax.set_ylabel(f"{name} of the kept images", fontsize=10)
            ax.set_xlim(0, 90)
            _limits(ax, np.concatenate(shown) if shown else np.zeros(0))
            _percent(ax, "x")
            _percent(ax, "y")
            ax.grid(alpha=0.3)
            _legend_below(ax, drawn)
    _finish(fig, "Filtering out uncertain images: retrieval quality of the images kept",
            _seed_note(seeds_used, best_k, num_seeds)
            + " A confidence-free method draws a flat line: filtering at random keeps the metric.")
    return fig


def quality_figure(frame, num_bins: int = 8, best_k: int | None = None, num_seeds: int | None = None):
    """Mean confidence (z-scored per run) against the crop fraction of the lossy images, per (method, dim),
    from `paper.quality_frame`; the band is ± 1 standard error of the bin mean over the images of all seeds."""
    frame = frame.copy()
    grouped = frame.groupby(["method", "dim", "dataset", "seed"])["confidence"]
    frame["z"] = (frame.confidence - grouped.transform("mean")) / (grouped.transform("std") + 1e-12)
    edges = np.linspace(frame.crop.min(), frame.crop.max(), num_bins + 1)
    centres = (edges[:-1] + edges[1:]) / 2
    frame["bin"] = 100 * centres[np.clip(np.digitize(frame.crop, edges) - 1, 0, num_bins - 1)]
    datasets = list(dict.fromkeys(frame.dataset))
    curves = list(dict.fromkeys((m, int(d)) for m, d in zip(frame.method, frame.dim)))
    dims = sorted({d for _, d in curves})
    fig, axes = _panels(1, len(datasets), len(curves) if len(curves) <= 8 else len(curves) // 2)
    seeds_used = {}
    for c, dataset in enumerate(datasets):
        ax, drawn = axes[0, c], []
        for method, dim in curves:
            group = frame[(frame.dataset == dataset) & (frame.method == method) & (frame.dim == dim)]
            if group.empty:
                continue
            seeds_used[(method, dim)] = group.seed.nunique()
            stats = group.groupby("bin")["z"].agg(["mean", "sem"])
            drawn.append(_line(ax, stats.index.to_numpy(float), stats["mean"].to_numpy(),
                               stats["sem"].fillna(0).to_numpy(), method, dim, dims, _curve_key(method, dim),
                               clip=None, markers=num_bins))
        ax.axhline(0, color="0.5", linewidth=0.8)
        ax.set_title(f"{dataset_name(dataset)} lossy test set", fontsize=11)
        ax.set_xlabel("side of the image kept by the centre crop (image quality)", fontsize=10)
        ax.set_ylabel("mean confidence, z-scored per run", fontsize=10)
        _percent(ax, "x")
        ax.grid(alpha=0.3)
        _legend_below(ax, drawn)
    rule = _seed_note(seeds_used, best_k, num_seeds).split(";")[0]
    _finish(fig, "Confidence against image quality",
            f"{rule}; band: ± 1 standard error of each bin's mean. A rising line: less confidence for degraded "
            "images (quality SCC > 0).")
    return fig
