"""Figures of the notebooks: retrieval grids, 2-D embedding views (greyscale-readable styles)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

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
    fig, axes = plt.subplots(len(queries), k + 1, figsize=(1.2 * (k + 1), 1.25 * len(queries)), squeeze=False)
    for row, query in enumerate(queries):
        _show(axes[row, 0], images[query])
        caption = f"query {query}" + (f"\nconf {confidences[query]:.2f}" if confidences is not None else "")
        axes[row, 0].set_ylabel(caption, fontsize=7, rotation=0, ha="right", va="center")
        for col, neighbour in enumerate(neighbours[query]):
            _show(axes[row, col + 1], images[neighbour], RIGHT if labels[neighbour] == labels[query] else WRONG)
    axes[0, 0].set_title("query", fontsize=8)
    for col in range(k):
        axes[0, col + 1].set_title(f"#{col + 1}", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def pca_2d(vectors: np.ndarray) -> np.ndarray:
    """(N, D) -> (N, 2) projection on the two leading principal components."""
    centred = vectors - vectors.mean(axis=0, keepdims=True)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return centred @ vt[:2].T


def embedding_scatter(vectors: np.ndarray, labels: np.ndarray, confidences: np.ndarray | None = None,
                      max_classes: int = 20, title: str = "Test embeddings (PCA)"):
    """2-D PCA view of the embeddings of the ``max_classes`` largest classes, coloured by class and
    marker-shaped in cycles (greyscale-readable); point size follows the confidence when given."""
    classes, counts = np.unique(labels, return_counts=True)
    chosen = classes[np.argsort(-counts, kind="stable")[:max_classes]]
    mask = np.isin(labels, chosen)
    points = pca_2d(vectors[mask])
    sizes = 18.0
    if confidences is not None:
        c = confidences[mask]
        sizes = 6 + 40 * (c - c.min()) / (np.ptp(c) + 1e-12)
    fig, ax = plt.subplots(figsize=(6, 5))
    markers = "os^vD<>pP*X"
    cmap = plt.get_cmap("tab20")
    for index, label in enumerate(chosen):
        selected = labels[mask] == label
        ax.scatter(points[selected, 0], points[selected, 1], s=sizes if np.isscalar(sizes) else sizes[selected],
                   color=cmap(index % 20), marker=markers[index % len(markers)], alpha=0.8, linewidths=0)
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.set_title(title)
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


def _line_figure(frame, x: str, y: str, xlabel: str, ylabel: str, title: str, col: str | None = None,
                 errorbar="sd"):
    import seaborn as sns

    grid = sns.relplot(data=frame, x=x, y=y, hue="method", style="method", col=col, kind="line", errorbar=errorbar,
                       height=3.6, aspect=1.25, dashes=True, markers=False, facet_kws={"sharey": False})
    grid.set_axis_labels(xlabel, ylabel)
    grid.figure.suptitle(title, y=1.03)
    return grid.figure


def erc_figure(frame, metric: str = "recall@1"):
    """Error-versus-reject curves (mean ± std over seeds), one panel per dataset; from `paper.erc_frame`."""
    return _line_figure(frame, "rejected", "error", "fraction of queries rejected (least confident first)",
                        f"error (1 - {metric}) of the kept queries", f"Error versus reject ({metric})", col="dataset")


def filter_out_figure(frame, metric: str = "mapr"):
    """Metric of the kept subset against the fraction filtered out; from `paper.filter_out_frame`."""
    part = frame[frame.metric == metric]
    return _line_figure(part, "fraction", "value", "fraction filtered out (least confident first)", metric,
                        f"{metric} after filtering out uncertain images", col="dataset")


def quality_figure(frame, num_bins: int = 8):
    """Mean confidence (z-scored per run) against the crop fraction of the lossy images; `paper.quality_frame`."""
    frame = frame.copy()
    grouped = frame.groupby(["method", "dataset", "seed"])["confidence"]
    frame["confidence (z-score)"] = (frame.confidence - grouped.transform("mean")) / (grouped.transform("std") + 1e-12)
    edges = np.linspace(frame.crop.min(), frame.crop.max(), num_bins + 1)
    centres = (edges[:-1] + edges[1:]) / 2
    frame["crop fraction"] = centres[np.clip(np.digitize(frame.crop, edges) - 1, 0, num_bins - 1)]
    return _line_figure(frame, "crop fraction", "confidence (z-score)", "centre-crop fraction kept (image quality)",
                        "mean confidence (z-scored per run) ± s.e.", "Confidence against image quality",
                        col="dataset", errorbar="se")
