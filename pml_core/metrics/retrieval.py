"""Retrieval metrics: recall@k, MAP@R, ERC, confidence accuracy and filter-out curves (docs/reference.md §6.2).

One neighbour search serves every metric and every filter-out bin. The bins are nested (a bin keeps
the items of confidence above a threshold), so the gallery is ordered by how many bins keep each item
and cut into parts at the bins' boundaries; the search keeps each query's top-k within every part
(each pair of items scored once in the leave-one-out protocol), and a bin's exact lists are the
merged lists of the parts it keeps (``tests/test_metrics_retrieval.py`` proves the equality with a
full recomputation).

Conventions (docs/reference.md §13.5-13.7):
* leave-one-out by default: every item is a query and the gallery is the whole set minus the query;
  with ``query_mask`` the queries search only the gallery (``gallery_mask``, default ``~query_mask``:
  the standard In-shop query -> gallery protocol);
* ``num_rel_i`` = gallery items sharing the query's label (the query itself excluded);
* recall@k, erc-recall@1 and confidence-accuracy use queries with ``num_rel_i > 0`` only;
  mapr, mapr-ms and erc-mapr average over **all** queries (queries without relevant items count 0);
* mapr uses ``R_i = num_rel_i``; mapr-ms puts the query into its own ranking (at the position of its
  self-score; ties -> query first) with ``R_i = num_rel_i + 1`` (queries outside the gallery: no self);
* ERC = mean over n of the mean error of the n most confident queries (stable sort: equal
  confidences keep item order);
* filter-out bin f keeps items with confidence >= sorted_conf[round((N - 1) f)] (Python round).
* equal scores are ranked by increasing item index (see :mod:`pml_core.metrics.knn`).
"""

from __future__ import annotations

import math
import warnings
from typing import Callable, Iterable, Sequence

import numpy as np
import torch

from ..errors import ConfigError, DataError
from .knn import DEFAULT_MEMORY_BUDGET, Similarity, knn_per_part, merge_parts, rerank

__all__ = [
    "ALL_METRICS",
    "retrieval_metrics",
    "filter_out_fractions",
    "filter_out_curves",
    "erc",
    "erc_curve",
    "confidence_accuracy",
]

ALL_METRICS = ("recall", "erc-recall@1", "confidence-accuracy", "mapr", "erc-mapr", "mapr-ms")
CONFIDENCE_METRICS = ("erc-recall@1", "confidence-accuracy", "erc-mapr")

ScoreFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


# ----------------------------------------------------------------------------------------------
# Confidence metrics on per-query values.

def _desc_order(confidences: torch.Tensor) -> torch.Tensor:
    return torch.argsort(confidences, descending=True, stable=True)


def erc_curve(errors: torch.Tensor, confidences: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Error-versus-reject curve: ``(kept_fraction (n,), mean error of the n most confident (n,))``."""
    errors = torch.as_tensor(errors)
    confidences = torch.as_tensor(confidences, device=errors.device)
    n = errors.numel()
    if n == 0:
        return np.zeros(0), np.zeros(0)
    e = errors[_desc_order(confidences)].double()
    t = torch.arange(1, n + 1, dtype=torch.float64, device=e.device)
    return (t / n).cpu().numpy(), (e.cumsum(0) / t).cpu().numpy()


def erc(errors: torch.Tensor, confidences: torch.Tensor) -> float:
    """Area under the error-versus-reject curve (mean of its running mean errors); NaN if empty."""
    _, curve = erc_curve(errors, confidences)
    return float(curve.mean()) if curve.size else math.nan


def confidence_accuracy(correct: torch.Tensor, confidences: torch.Tensor) -> float:
    """Best accuracy of 'predict correct iff confidence >= t' over all t (t = +inf included).

    NaN when ``correct`` is empty or constant (docs/reference.md Appendix C).
    """
    correct = torch.as_tensor(correct).bool()
    n = correct.numel()
    if n == 0 or bool(correct.all()) or not bool(correct.any()):
        return math.nan
    order = _desc_order(torch.as_tensor(confidences, device=correct.device))
    c = torch.as_tensor(confidences, device=correct.device)[order]
    ok = correct[order].double()
    tp = ok.cumsum(0)
    fp = (1 - ok).cumsum(0)
    n_neg = fp[-1]
    ends = torch.ones(n, dtype=torch.bool, device=c.device)
    ends[:-1] = c[:-1] != c[1:]
    acc = (tp[ends] + n_neg - fp[ends]) / n
    return float(max(acc.max().item(), (n_neg / n).item()))


# ----------------------------------------------------------------------------------------------
# Per-query statistics of ranked lists.

def _list_stats(match: torch.Tensor, num_rel: torch.Tensor, self_pos: torch.Tensor | None,
                ks: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Hits at each k ``(Q, len(ks))``, AP@R ``(Q,)`` and match-self AP@R ``(Q,)``.

    ``match (Q, L)``: neighbour shares the query's label (padding = False); ``num_rel (Q,)``;
    ``self_pos (Q,)``: position of the query in its own ranking, -1 if it is not in the gallery.
    """
    q, length = match.shape
    dev = match.device
    hits = torch.stack([match[:, :k].any(1) if length else torch.zeros(q, dtype=torch.bool, device=dev)
                        for k in ks], dim=1) if ks else torch.zeros(q, 0, dtype=torch.bool, device=dev)
    ap = _ap_at_r(match, num_rel)
    if self_pos is None:
        self_pos = torch.full((q,), -1, dtype=torch.long, device=dev)
    has_self = self_pos >= 0
    j = torch.arange(length + 1, device=dev)[None, :]
    p = torch.where(has_self, self_pos, length + 1)[:, None]
    if length:
        src = torch.where(j > p, j - 1, j).clamp(max=length - 1).expand(q, -1)
        ms = match.gather(1, src)
    else:
        ms = torch.zeros(q, 1, dtype=torch.bool, device=dev)
    ms = ms & (j <= torch.where(has_self, length, length - 1)[:, None])  # no-self rows: length L
    ms = ms | (j == p)
    ap_ms = _ap_at_r(ms, num_rel + has_self.long())
    return hits, ap, ap_ms


def _ap_at_r(match: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """AP@R per row: ``(1/max(R,1)) sum_{j<=R} match_j * prec@j`` with ``R = min(r, L)``. ``(Q,)``."""
    q, length = match.shape
    if length == 0:
        return torch.zeros(q, dtype=torch.float64, device=match.device)
    m = match.double()
    ranks = torch.arange(1, length + 1, dtype=torch.float64, device=match.device)
    prec = m.cumsum(1) / ranks
    rr = r.clamp(max=length)
    within = ranks[None, :] <= rr[:, None]
    return (m * prec * within).sum(1) / rr.clamp(min=1).double()


# ----------------------------------------------------------------------------------------------
# Input handling.

def _as_tensor(x, device, name: str) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x.to(device) if device is not None else x
    try:
        return torch.as_tensor(np.asarray(x), device=device)
    except Exception as exc:  # noqa: BLE001
        raise DataError(f"{name} could not be converted to a tensor: {exc}") from None


def _check_inputs(x, labels, confidences, query_mask, gallery_mask):
    if x.ndim != 2:
        raise DataError(f"embeddings must have shape (N, D), got {tuple(x.shape)}.")
    n = x.shape[0]
    if not torch.is_floating_point(x):
        raise DataError(f"embeddings must be floating point, got {x.dtype}.")
    if labels.ndim != 1 or labels.shape[0] != n:
        raise DataError(f"labels must have shape ({n},) to match embeddings, got {tuple(labels.shape)}.")
    if torch.is_floating_point(labels):
        if not bool(torch.all(labels == labels.round())):
            raise DataError("labels must be integers.")
        labels = labels.long()
    if n < 2:
        raise DataError(f"retrieval needs at least 2 items, got {n}.")
    if not bool(torch.isfinite(x).all()):
        bad = int((~torch.isfinite(x).all(1)).sum())
        raise DataError(f"embeddings contain NaN or inf in {bad} row(s); fix or drop them before computing metrics.")
    if confidences is not None:
        if confidences.ndim != 1 or confidences.shape[0] != n:
            raise DataError(f"confidences must have shape ({n},), got {tuple(confidences.shape)}.")
        if not bool(torch.isfinite(confidences).all()):
            raise DataError("confidences contain NaN or inf; fix or drop those items.")
    if torch.unique(labels).numel() < 2:
        raise DataError("retrieval metrics need at least two classes; all labels are equal.")
    for name, m in (("query_mask", query_mask), ("gallery_mask", gallery_mask)):
        if m is not None and (m.ndim != 1 or m.shape[0] != n):
            raise DataError(f"{name} must have shape ({n},), got {tuple(m.shape)}.")
    return labels


# ----------------------------------------------------------------------------------------------
# The engine.

class _Engine:
    """Neighbour lists searched once; metrics of the whole set and of every filter-out bin from them.

    With filter-out bins the gallery is ordered by how many bins keep each item (the bins are
    nested, so each keeps a prefix of that order) and cut into parts at the bins' boundaries; one
    search keeps every query's top-k within each part (:func:`knn_per_part`), and a bin's exact lists
    are the merged lists of the parts it keeps.
    """

    def __init__(self, x, labels, confidences, query_mask, gallery_mask, *, similarity, rerank_fn, params,
                 ks, memory_budget, backend, self_score_fn):
        self.x, self.params = x, params
        self.labels = torch.unique(labels, return_inverse=True)[1]
        self.conf = confidences
        self.qmask, self.gmask = query_mask, gallery_mask
        self.similarity, self.rerank_fn = similarity, rerank_fn
        self.ks = list(ks)
        self.budget, self.backend = memory_budget, backend
        self.self_score_fn = self_score_fn
        self.query_ids = query_mask.nonzero().squeeze(1)
        self.bins: list[tuple[float, torch.Tensor]] = []
        self.gallery = self.gallery_ends = self.scores = self.idx = None
        self._self_scores: torch.Tensor | None = None

    # -- searching --
    def _needed_length(self, num_rel: torch.Tensor, g_count: int) -> int:
        need = max(max(self.ks, default=1), int(num_rel.max().item()) + 1 if num_rel.numel() else 1, 1)
        return int(min(need, g_count))

    def _num_rel(self, q_ids: torch.Tensor, gmask: torch.Tensor) -> torch.Tensor:
        counts = torch.bincount(self.labels[gmask], minlength=int(self.labels.max()) + 1)
        return counts[self.labels[q_ids]] - gmask[q_ids].long()

    def prepare(self, num_bins: int = 0) -> None:
        """Search once: per query, the top-k of each gallery part (one part without bins)."""
        dev = self.x.device
        g_ids = self.gmask.nonzero().squeeze(1)
        if num_bins > 0 and self.conf is not None:
            self.bins = list(_filter_out_masks(self.conf, num_bins))
            # the bins are nested: an item kept by more bins comes first, equal ones by item index
            # (so that ties inside a part still go to the smaller item index)
            times_kept = torch.stack([kept[g_ids] for _, kept in self.bins]).sum(0)
            g_ids = g_ids[torch.argsort(times_kept, descending=True, stable=True)]
            kept_counts = {int(kept[g_ids].sum()) for _, kept in self.bins}
            ends = sorted(c for c in kept_counts | {g_ids.numel()} if c > 0)
        else:
            ends = [g_ids.numel()]
        length = self._needed_length(self._num_rel(self.query_ids, self.gmask), g_ids.numel())
        pos = torch.full((self.x.shape[0],), -1, dtype=torch.long, device=dev)
        pos[g_ids] = torch.arange(g_ids.numel(), device=dev)
        gallery = self.x[g_ids]
        if torch.equal(self.qmask, self.gmask):  # leave-one-out: the set against itself, each pair once
            v, i = knn_per_part(gallery, gallery, length, ends, similarity=self.similarity,
                                query_ids=torch.arange(g_ids.numel(), device=dev), memory_budget=self.budget,
                                backend=self.backend)
            v, i = v[pos[self.query_ids]], i[pos[self.query_ids]]
        else:
            v, i = knn_per_part(self.x[self.query_ids], gallery, length, ends, similarity=self.similarity,
                                query_ids=pos[self.query_ids], memory_budget=self.budget, backend=self.backend)
        self.gallery, self.gallery_ends = g_ids, ends
        self.scores, self.idx = v, torch.where(i >= 0, g_ids[i.clamp_min(0)], -1)

    def self_scores(self) -> torch.Tensor:
        if self._self_scores is None:
            self._self_scores = self.self_score_fn(self.query_ids)
        return self._self_scores

    # -- metrics of a subset --
    def subset_stats(self, kept: torch.Tensor | None):
        """Per-query (hits, ap, ap_ms, num_rel, confidences) of the whole set (None) or of a filter-out
        bin's kept mask (one of ``self.bins``)."""
        dev = self.x.device
        if kept is None:
            rows = torch.arange(self.query_ids.numel(), device=dev)
            gmask, parts = self.gmask, len(self.gallery_ends)
        else:
            rows = kept[self.query_ids].nonzero().squeeze(1)
            gmask = self.gmask & kept
            parts = self.gallery_ends.index(int(kept[self.gallery].sum())) + 1 if bool(gmask.any()) else 0
        q_ids = self.query_ids[rows]
        g_count = int(gmask.sum())
        num_rel = self._num_rel(q_ids, gmask)
        length = self._needed_length(num_rel, g_count)
        sc, idx = merge_parts(self.scores[rows, :parts], self.idx[rows, :parts], length)
        if self.rerank_fn is not None:
            sc, idx = rerank(self.params[q_ids], self.params, idx, self.rerank_fn, memory_budget=self.budget)
        match = (idx >= 0) & (self.labels[idx.clamp_min(0)] == self.labels[q_ids][:, None])
        in_gallery = gmask[q_ids]
        self_sc = self.self_scores()[rows]
        self_pos = torch.where(in_gallery, (sc > self_sc[:, None]).sum(1), torch.full_like(num_rel, -1))
        ks = sorted(set(self.ks) | {1})
        hits, ap, ap_ms = _list_stats(match, num_rel, self_pos, ks)
        hits = {k: hits[:, j] for j, k in enumerate(ks)}
        conf = self.conf[q_ids] if self.conf is not None else None
        return hits, ap, ap_ms, num_rel, conf

    def subset_metrics(self, kept: torch.Tensor | None, metrics: Iterable[str], stats=None) -> dict[str, float]:
        hits, ap, ap_ms, num_rel, conf = stats if stats is not None else self.subset_stats(kept)
        has_pos = num_rel > 0
        out: dict[str, float] = {}
        metrics = list(metrics)
        n_pos = int(has_pos.sum())
        if "recall" in metrics:
            for k in self.ks:
                out[f"recall@{k}"] = float(hits[k][has_pos].double().mean()) if n_pos else math.nan
        if "mapr" in metrics:
            out["mapr"] = float(ap.mean()) if ap.numel() else math.nan
        if "mapr-ms" in metrics:
            out["mapr-ms"] = float(ap_ms.mean()) if ap_ms.numel() else math.nan
        if conf is not None:
            if "erc-recall@1" in metrics:
                out["erc-recall@1"] = erc(1.0 - hits[1][has_pos].double(), conf[has_pos])
            if "erc-mapr" in metrics:
                out["erc-mapr"] = erc(1.0 - ap, conf)
            if "confidence-accuracy" in metrics:
                out["confidence-accuracy"] = confidence_accuracy(hits[1][has_pos], conf[has_pos])
        return out


def filter_out_fractions(num_bins: int) -> np.ndarray:
    """Rejected fractions ``linspace(0, 0.9, num_bins)`` of the filter-out curves."""
    return np.linspace(0.0, 0.9, int(num_bins))


def _filter_out_masks(confidences: torch.Tensor, num_bins: int):
    fractions = filter_out_fractions(num_bins)
    sorted_conf = torch.sort(confidences).values
    n = confidences.numel()
    for f in fractions:
        th = sorted_conf[round((n - 1) * float(f))]
        yield float(f), confidences >= th


def _build_engine(embeddings, labels, confidences, *, recall_k, query_mask, gallery_mask, scorer, rerank_fn,
                  modes, candidate_similarity="l2", memory_budget, backend, device):
    x = _as_tensor(embeddings, device, "embeddings")
    dev = x.device
    labels = _as_tensor(labels, dev, "labels")
    conf = _as_tensor(confidences, dev, "confidences") if confidences is not None else None
    qm = _as_tensor(query_mask, dev, "query_mask").bool() if query_mask is not None else None
    gm = _as_tensor(gallery_mask, dev, "gallery_mask").bool() if gallery_mask is not None else None
    labels = _check_inputs(x, labels, conf, qm, gm)
    n = x.shape[0]
    if qm is None:
        qm = torch.ones(n, dtype=torch.bool, device=dev)
        gm = gm if gm is not None else torch.ones(n, dtype=torch.bool, device=dev)
    elif gm is None:
        gm = ~qm
    if not bool(qm.any()):
        raise DataError("query_mask selects no query.")
    if not bool(gm.any()):
        raise DataError("the gallery is empty (gallery_mask selects nothing); pass a gallery_mask or drop query_mask.")
    ks = tuple(int(k) for k in recall_k)
    if any(k < 1 for k in ks):
        raise ConfigError(f"recall_k values must be >= 1, got {ks}.")
    if conf is not None:
        conf = conf.to(torch.float64)

    if rerank_fn is not None:
        search_x = _as_tensor(modes, dev, "modes") if modes is not None else x
        if search_x.ndim != 2 or search_x.shape[0] != n:
            raise DataError(f"modes must have shape ({n}, D), got {tuple(search_x.shape)}.")
        if not bool(torch.isfinite(search_x).all()):
            raise DataError("modes contain NaN or inf.")
        similarity = candidate_similarity
        params = x

        def self_score_fn(q_ids):
            out = [rerank_fn(params[c][:, None, :], params[c][:, None, :])[:, 0]
                   for c in torch.split(q_ids, 4096)]
            return torch.cat(out).to(x.dtype) if out else x.new_zeros(0)
    else:
        search_x, similarity, params = x, scorer, None

        def self_score_fn(q_ids):
            xs = search_x[q_ids]
            if similarity == "dot":
                return (xs * xs).sum(1)
            if similarity == "cosine":
                return (xs.norm(dim=1) > 0).to(xs.dtype)
            if similarity == "l2":
                return torch.zeros(q_ids.numel(), dtype=xs.dtype, device=dev)
            out = [torch.diagonal(similarity(xs[c0:c0 + 1024], xs[c0:c0 + 1024]))
                   for c0 in range(0, xs.shape[0], 1024)]
            return torch.cat(out) if out else xs.new_zeros(0)

    return _Engine(search_x, labels, conf, qm, gm, similarity=similarity, rerank_fn=rerank_fn, params=params,
                   ks=ks, memory_budget=memory_budget, backend=backend, self_score_fn=self_score_fn)


@torch.no_grad()
def retrieval_metrics(embeddings, labels, confidences=None, *, recall_k: Sequence[int] = (1, 2, 4, 8),
                      metrics: Iterable[str] | None = None, num_filter_out_bins: int = 0,
                      query_mask=None, gallery_mask=None, scorer: Similarity = "cosine",
                      rerank_fn: ScoreFn | None = None, modes=None, candidate_similarity: Similarity = "l2",
                      memory_budget: int = DEFAULT_MEMORY_BUDGET, backend: str = "torch",
                      device: str | torch.device | None = None, query_errors: dict | None = None) -> dict[str, float]:
    """All retrieval metrics of a labelled embedding set, keys as docs/reference.md §6.

    Args:
        embeddings: ``(N, P)`` vectors (or flat distribution parameters when ``rerank_fn`` is given).
        labels: ``(N,)`` integer class labels (any values).
        confidences: ``(N,)`` per-item confidence (higher = more confident) or None (confidence
            metrics and filter-out bins are then skipped, as in the reference).
        recall_k: the k of ``recall@k``.
        metrics: subset of ``ALL_METRICS`` (default: all).
        num_filter_out_bins: adds ``filter-out/{f:.3f}/{metric}`` for f in linspace(0, 0.9, n).
        query_mask, gallery_mask: ``(N,)`` bool; query->gallery protocol (gallery defaults to the
            complement of the queries). Default: leave-one-out over all items.
        scorer: similarity of the exact search: ``"cosine" | "dot" | "l2"`` or a pairwise callable
            ``fn(a (c, P), b (G, P)) -> (c, G)`` (e.g. ``knn.isotropic_gaussian_mls``: exact MLS search).
        rerank_fn: the reference protocol for distribution scorers (docs/reference.md §6.2 steps 1-4):
            candidates are the ``R - 1 = max(max k, max class size)`` nearest ``modes`` under
            ``candidate_similarity`` (self excluded), re-ranked by
            ``rerank_fn(query (Q,1,P), candidates (Q,K,P)) -> (Q,K)`` on ``embeddings``.
        modes: ``(N, D)`` search vectors for the candidates (default: ``embeddings``).
        candidate_similarity: similarity of the candidate search (the reference: ``"l2"``).
        memory_budget: bytes per score block. backend: ``"torch"`` or ``"faiss"``.
        device: where to compute (default: the embeddings' device).
        query_errors: a dict to receive the per-item errors behind the ERC metrics (with confidences):
            ``erc-recall@1`` and ``erc-mapr``, ``(N,)`` float64 arrays, NaN for the items that are not
            among the metric's queries. ``erc(errors[valid], confidences[valid])`` with
            ``valid = ~isnan(errors)`` is then the returned ERC value, bit for bit (what the report's
            ERC curves are drawn from).

    Returns:
        ``{metric: float}``; NaN for undefined values (no query with a relevant item, constant
        correctness for confidence-accuracy).
    """
    metrics = tuple(ALL_METRICS if metrics is None else metrics)
    unknown = [m for m in metrics if m not in ALL_METRICS]
    if unknown:
        raise ConfigError(f"unknown retrieval metric(s) {unknown}; valid: {', '.join(ALL_METRICS)}.")
    engine = _build_engine(embeddings, labels, confidences, recall_k=recall_k, query_mask=query_mask,
                           gallery_mask=gallery_mask, scorer=scorer, rerank_fn=rerank_fn, modes=modes,
                           candidate_similarity=candidate_similarity, memory_budget=memory_budget, backend=backend, device=device)
    if int(num_filter_out_bins) < 0:
        raise ConfigError(f"num_filter_out_bins must be >= 0 (0: no filter-out curve), got {num_filter_out_bins}.")
    if "recall" in metrics:
        _warn_recall_k(engine)
    engine.prepare(int(num_filter_out_bins))
    stats = engine.subset_stats(None)
    out = engine.subset_metrics(None, metrics, stats)
    if query_errors is not None and engine.conf is not None:
        query_errors.update(_query_errors(engine, stats))
    if "recall" in metrics and out and all(math.isnan(out[f"recall@{k}"]) for k in engine.ks):
        warnings.warn("no query has a relevant gallery item (all classes are singletons): recall is NaN.",
                      stacklevel=2)
    for f, kept in engine.bins:
        for name, value in engine.subset_metrics(kept, metrics).items():
            out[f"filter-out/{f:.3f}/{name}"] = value
    return out


def _query_errors(engine: _Engine, stats) -> dict[str, np.ndarray]:
    """Per-item ERC errors ``(N,)`` of the whole set (NaN: not a query of that metric), computed by the
    same expressions as the ERC metrics of `_Engine.subset_metrics`."""
    hits, ap, _, num_rel, _ = stats
    has_pos = num_rel > 0
    ids = engine.query_ids
    recall_errors = torch.full((engine.x.shape[0],), math.nan, dtype=torch.float64, device=ids.device)
    ap_errors = recall_errors.clone()
    recall_errors[ids[has_pos]] = 1.0 - hits[1][has_pos].double()
    ap_errors[ids] = (1.0 - ap).double()
    return {"erc-recall@1": recall_errors.cpu().numpy(), "erc-mapr": ap_errors.cpu().numpy()}


def _warn_recall_k(engine: _Engine) -> None:
    """Say so when a recall@k has k beyond the longest ranked list: by the reference's convention (its test
    suite: recall@10 on 6 items is 1) the list is capped at the set, so the value is 1.0 by construction."""
    outside = bool((engine.qmask & ~engine.gmask).any())
    longest = int(engine.gmask.sum()) - (0 if outside else 1)
    too_large = [k for k in engine.ks if k > longest]
    if too_large:
        warnings.warn(f"recall@{too_large[0]}: k exceeds the {longest} items a query can rank here "
                      f"({engine.x.shape[0]} items); as in the reference the list is capped at the set, so "
                      f"recall@k for k >= {longest} is 1.0 by construction (for every query with a relevant item)",
                      stacklevel=4)


def filter_out_curves(embeddings, labels, confidences, *, num_bins: int = 10, **kwargs
                      ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Filter-out curves as arrays for plotting: ``(fractions (F,), {metric: values (F,)})``."""
    if confidences is None:
        raise DataError("filter-out curves need confidences.")
    res = retrieval_metrics(embeddings, labels, confidences, num_filter_out_bins=num_bins, **kwargs)
    fractions = filter_out_fractions(num_bins)
    names = sorted({k.split("/", 2)[2] for k in res if k.startswith("filter-out/")})
    curves = {m: np.array([res[f"filter-out/{f:.3f}/{m}"] for f in fractions]) for m in names}
    return fractions, curves


@torch.no_grad()
def retrieval_erc_curves(embeddings, labels, confidences, **kwargs) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """ERC curves ``{"erc-recall@1": (kept_fraction, error), "erc-mapr": (...)}`` for plotting."""
    kwargs.pop("num_filter_out_bins", None)
    engine = _build_engine(embeddings, labels, confidences, recall_k=kwargs.pop("recall_k", (1,)),
                           query_mask=kwargs.pop("query_mask", None), gallery_mask=kwargs.pop("gallery_mask", None),
                           scorer=kwargs.pop("scorer", "cosine"), rerank_fn=kwargs.pop("rerank_fn", None),
                           modes=kwargs.pop("modes", None),
                           candidate_similarity=kwargs.pop("candidate_similarity", "l2"),
                           memory_budget=kwargs.pop("memory_budget", DEFAULT_MEMORY_BUDGET),
                           backend=kwargs.pop("backend", "torch"), device=kwargs.pop("device", None))
    if kwargs:
        raise ConfigError(f"unexpected arguments {sorted(kwargs)}.")
    if engine.conf is None:
        raise DataError("ERC curves need confidences.")
    engine.prepare()
    hits, ap, _, num_rel, conf = engine.subset_stats(None)
    has_pos = num_rel > 0
    return {"erc-recall@1": erc_curve(1.0 - hits[1][has_pos].double(), conf[has_pos]),
            "erc-mapr": erc_curve(1.0 - ap, conf)}


__all__.append("retrieval_erc_curves")
