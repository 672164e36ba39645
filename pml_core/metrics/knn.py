"""Exact, memory-bounded k-nearest-neighbour search on tensors (REFERENCE.md 6.2).

Queries are processed in chunks; each chunk scores against the whole gallery with one matrix
product, so memory is ``chunk x G`` (never ``N x N``) and the chunk size follows from a byte budget.
Everything runs on the tensors' own device.

Similarities (higher = closer):
* ``"dot"``    ``<a, b>``
* ``"cosine"`` ``<a/|a|, b/|b|>`` (``|v|`` clamped at 1e-12 as ``F.normalize``)
* ``"l2"``     ``-|a - b|^2`` (negative squared Euclidean distance)
* a callable ``fn(a (c, P), b (G, P)) -> (c, G)`` computing a pairwise score matrix (e.g.
  :func:`isotropic_gaussian_mls`), which makes any matrix-computable scorer an *exact* search.

Tie-breaking (deterministic, documented): equal scores are ordered by increasing gallery index,
both inside the returned list and at its cut-off (the item with the smaller index is kept).
"""

from __future__ import annotations

import math
from typing import Callable, Union

import torch
import torch.nn.functional as F

from ..errors import ConfigError

__all__ = [
    "DEFAULT_MEMORY_BUDGET",
    "SIMILARITIES",
    "Similarity",
    "chunk_rows",
    "knn",
    "rerank",
    "isotropic_gaussian_mls",
    "pairwise_from_scorer",
]

#: Default bytes for the per-chunk score matrix and its temporaries.
DEFAULT_MEMORY_BUDGET = 256 * 2**20

PairwiseFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Similarity = Union[str, PairwiseFn]


def _dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return a @ b.T


def _neg_sq_l2(a: torch.Tensor, b: torch.Tensor, b_sq: torch.Tensor | None = None) -> torch.Tensor:
    if b_sq is None:
        b_sq = (b * b).sum(1)
    d = (a * a).sum(1, keepdim=True) + b_sq[None, :] - 2.0 * (a @ b.T)
    return -d.clamp_min_(0.0)


SIMILARITIES = ("dot", "cosine", "l2")


def isotropic_gaussian_mls(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Exact log mutual likelihood score of isotropic Gaussians as a pairwise matrix.

    Rows are ``[mean (D), variance (1)]`` (shape ``(c, D + 1)`` and ``(G, D + 1)``); returns ``(c, G)``:
    ``logMLS = -D/2 log 2pi - D/2 log(s1 + s2) - |mu1 - mu2|^2 / (2 (s1 + s2))``.
    The variance term couples the pair, so the whole matrix is formed (one chunk at a time inside
    :func:`knn`): one fused matmul (addmm) for ``|mu1 - mu2|^2`` plus four in-place elementwise
    passes. With ``t = 2 pi (s1 + s2)`` the score is ``-D/2 log t - pi |mu1 - mu2|^2 / t``.
    """
    dim = a.shape[1] - 1
    mu_a, t_a = a[:, :dim], a[:, dim] * (2 * math.pi)
    mu_b, t_b = b[:, :dim], b[:, dim] * (2 * math.pi)
    t = t_a[:, None] + t_b[None, :]
    sq = (mu_a * mu_a).sum(1, keepdim=True) * math.pi + (mu_b * mu_b).sum(1)[None, :] * math.pi
    d2 = torch.addmm(sq, mu_a, mu_b.T, alpha=-2 * math.pi).clamp_(min=0)  # pi |mu1 - mu2|^2
    d2.div_(t)
    return d2.add_(t.log_(), alpha=dim / 2).neg_()


def pairwise_from_scorer(score_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                         block: int = 1024) -> PairwiseFn:
    """Turn a broadcasting scorer ``score_fn((Q,1,P), (Q,K,P)) -> (Q,K)`` into a pairwise matrix fn.

    The gallery is fed in blocks of ``block`` rows; memory is ``c x block x P`` per call.
    """

    def fn(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        parts = []
        for start in range(0, b.shape[0], block):
            g = b[start:start + block]
            parts.append(score_fn(a[:, None, :], g[None].expand(a.shape[0], -1, -1)))
        return torch.cat(parts, dim=1)

    return fn


def chunk_rows(num_gallery: int, k: int, element_size: int, memory_budget: int,
               extra_per_row: int = 0) -> int:
    """Number of query rows per chunk so that the chunk's score matrix fits in ``memory_budget``.

    A row costs ``num_gallery * (element_size + 1)`` bytes (scores + a comparison mask) plus the top-k
    buffers; at least one row is always processed.
    """
    per_row = num_gallery * (element_size + 1) + (k + 1) * (element_size + 8) * 2 + extra_per_row
    return max(1, int(memory_budget // max(per_row, 1)))


def _sort_ties_by_index(vals: torch.Tensor, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Order each row by descending value, equal values by ascending index. ``(c, k)`` each."""
    o = idx.argsort(dim=1)
    vals, idx = vals.gather(1, o), idx.gather(1, o)
    o = vals.argsort(dim=1, descending=True, stable=True)
    return vals.gather(1, o), idx.gather(1, o)


def _topk_deterministic(s: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Top ``k`` of each row of ``s`` (c, G) with ties at the cut-off resolved towards small indices."""
    g = s.shape[1]
    kk = min(k + 1, g)
    vals, idx = torch.topk(s, kk, dim=1, largest=True, sorted=True)
    if kk > k:
        # A tie straddles the cut-off only if the (k+1)-th value equals the k-th one.
        bad = vals[:, k] == vals[:, k - 1]
        vals, idx = vals[:, :k], idx[:, :k]
        if bool(bad.any()):
            rows = bad.nonzero().squeeze(1)
            sv, si = torch.sort(s[rows], dim=1, descending=True, stable=True)
            vals = vals.clone()
            idx = idx.clone()
            vals[rows], idx[rows] = sv[:, :k], si[:, :k]
    return _sort_ties_by_index(vals, idx)


def _prepare(similarity: Similarity, queries: torch.Tensor, gallery: torch.Tensor):
    """Return (queries', gallery', chunk_fn) with per-gallery work done once."""
    if callable(similarity):
        return queries, gallery, similarity
    if similarity == "dot":
        return queries, gallery, _dot
    if similarity == "cosine":
        return F.normalize(queries, dim=1), F.normalize(gallery, dim=1), _dot
    if similarity == "l2":
        g_sq = (gallery * gallery).sum(1)
        return queries, gallery, lambda a, b: _neg_sq_l2(a, b, g_sq)
    raise ConfigError(f"unknown similarity {similarity!r}; use one of {', '.join(SIMILARITIES)} or a callable.")


def knn(queries: torch.Tensor, gallery: torch.Tensor, k: int, *, similarity: Similarity = "cosine",
        query_ids: torch.Tensor | None = None, memory_budget: int = DEFAULT_MEMORY_BUDGET,
        backend: str = "torch") -> tuple[torch.Tensor, torch.Tensor]:
    """Exact top-``k`` gallery items for every query, most similar first.

    Args:
        queries: ``(Q, P)``; gallery: ``(G, P)`` (same device and dtype).
        k: neighbours per query (capped at ``G``).
        similarity: ``"dot" | "cosine" | "l2"`` or a pairwise callable (see module doc).
        query_ids: ``(Q,)`` long, the gallery index of each query itself (excluded from its list),
            or -1 when the query is not in the gallery.
        memory_budget: bytes allowed for one chunk's score matrix and temporaries.
        backend: ``"torch"`` (exact, deterministic ties) or ``"faiss"`` (IndexFlatIP/L2 on CPU,
            ties at the cut-off not guaranteed; only for the three named similarities).

    Returns:
        ``scores (Q, k')`` and ``indices (Q, k')`` with ``k' = min(k, G)``; rows with fewer valid
        items (self excluded) are padded with index -1 and score -inf.
    """
    if queries.ndim != 2 or gallery.ndim != 2:
        raise ConfigError(f"knn expects 2-D queries and gallery, got {tuple(queries.shape)} and {tuple(gallery.shape)}.")
    num_q, num_g = queries.shape[0], gallery.shape[0]
    k = min(int(k), num_g)
    device = queries.device
    if k <= 0 or num_q == 0:
        return (torch.empty(num_q, max(k, 0), dtype=queries.dtype, device=device),
                torch.empty(num_q, max(k, 0), dtype=torch.long, device=device))
    if backend == "faiss":
        return _knn_faiss(queries, gallery, k, similarity, query_ids)
    if backend != "torch":
        raise ConfigError(f"unknown knn backend {backend!r}; use 'torch' or 'faiss'.")
    q, g, fn = _prepare(similarity, queries, gallery)
    # a pairwise callable may hold ~3 matrices of the chunk's size at once (e.g. MLS: scores, variances)
    temporaries = 3 if callable(similarity) else 1
    rows = chunk_rows(num_g, k, max(q.element_size(), 4) * temporaries, memory_budget)
    out_v, out_i = [], []
    for start in range(0, num_q, rows):
        s = fn(q[start:start + rows], g)
        if query_ids is not None:
            qid = query_ids[start:start + rows]
            has = qid >= 0
            if bool(has.any()):
                r = has.nonzero().squeeze(1)
                s[r, qid[r]] = -math.inf
        v, i = _topk_deterministic(s, k)
        if query_ids is not None:
            bad = torch.isneginf(v) & (i == query_ids[start:start + rows, None])
            i = i.masked_fill(bad, -1)
        out_v.append(v)
        out_i.append(i)
        del s
    return torch.cat(out_v), torch.cat(out_i)


def _knn_faiss(queries, gallery, k, similarity, query_ids):
    try:
        import faiss  # noqa: PLC0415 (optional dependency, imported lazily)
    except ImportError:
        raise ConfigError("knn backend 'faiss' needs the faiss package: pip install 'pml-core[faiss]', "
                          "or use backend='torch'.") from None
    if callable(similarity) or similarity not in SIMILARITIES:
        raise ConfigError("the faiss backend supports only 'dot', 'cosine' and 'l2' similarities.")
    import numpy as np  # noqa: PLC0415

    q = queries.detach().float()
    g = gallery.detach().float()
    if similarity == "cosine":
        q, g = F.normalize(q, dim=1), F.normalize(g, dim=1)
    qn = np.ascontiguousarray(q.cpu().numpy())
    gn = np.ascontiguousarray(g.cpu().numpy())
    index = faiss.IndexFlatL2(gn.shape[1]) if similarity == "l2" else faiss.IndexFlatIP(gn.shape[1])
    index.add(gn)
    extra = 1 if query_ids is not None else 0
    kk = min(k + extra, gn.shape[0])
    d, i = index.search(qn, kk)
    v = torch.from_numpy(-d if similarity == "l2" else d).to(device=queries.device, dtype=queries.dtype)
    i = torch.from_numpy(i).to(device=queries.device, dtype=torch.long)
    if query_ids is not None:
        is_self = i == query_ids[:, None].to(i.device)
        v = v.masked_fill(is_self, -math.inf)
        v, i = _sort_ties_by_index(v, i)
        v, i = v[:, :k], i[:, :k]
        i = i.masked_fill(torch.isneginf(v), -1)
    v, i = _sort_ties_by_index(v, i)
    return v, i


def rerank(query_params: torch.Tensor, gallery_params: torch.Tensor, candidates: torch.Tensor,
           score_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], *,
           memory_budget: int = DEFAULT_MEMORY_BUDGET) -> tuple[torch.Tensor, torch.Tensor]:
    """Re-rank candidate lists by an arbitrary scorer (REFERENCE.md 6.2 step 3).

    Args:
        query_params: ``(Q, P)``; gallery_params: ``(G, P)``.
        candidates: ``(Q, K)`` gallery indices (-1 = padding, kept last with score -inf).
        score_fn: ``score_fn(query (c, 1, P), cand (c, K, P)) -> (c, K)``, higher = more similar.

    Returns:
        ``scores (Q, K)``, ``indices (Q, K)`` sorted by descending score; equal scores keep the
        candidates' order.
    """
    num_q, k = candidates.shape
    if num_q == 0 or k == 0:
        return torch.empty(num_q, k, dtype=query_params.dtype, device=query_params.device), candidates
    p = gallery_params.shape[1]
    rows = max(1, int(memory_budget // max(1, k * p * query_params.element_size() * 3)))
    out_v, out_i = [], []
    for start in range(0, num_q, rows):
        c = candidates[start:start + rows]
        pad = c < 0
        cand = gallery_params[c.clamp_min(0)]
        s = score_fn(query_params[start:start + rows, None, :], cand).to(query_params.dtype)
        s = s.masked_fill(pad, -math.inf)
        o = s.argsort(dim=1, descending=True, stable=True)
        out_v.append(s.gather(1, o))
        out_i.append(c.gather(1, o))
    return torch.cat(out_v), torch.cat(out_i)
