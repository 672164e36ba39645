"""Exact, memory-bounded k-nearest-neighbour search on tensors (docs/reference.md §6.2).

The score matrix is never formed whole: it is computed one square block of queries x gallery items
at a time (one matrix product per block; the block edge follows from the device and a byte budget),
and every query keeps a running top-k over the blocks. A leave-one-out search of a set against
itself scores each pair once. Everything runs on the tensors' own device.

Similarities (higher = closer):
* ``"dot"``    ``<a, b>``
* ``"cosine"`` ``<a/|a|, b/|b|>`` (``|v|`` clamped at 1e-12 as ``F.normalize``)
* ``"l2"``     ``-|a - b|^2`` (negative squared Euclidean distance)
* a callable ``fn(a (c, P), b (G, P)) -> (c, G)`` computing a pairwise score matrix (e.g.
  :func:`isotropic_gaussian_mls`), which makes any matrix-computable scorer an *exact* search.
  A callable with ``fn(a, b) == fn(b, a).T`` may say so with the attribute ``fn.symmetric = True``.

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
    "block_edge",
    "knn",
    "knn_per_part",
    "merge_parts",
    "rerank",
    "isotropic_gaussian_mls",
    "pairwise_from_scorer",
]

#: Default bytes for one score block and its temporaries.
DEFAULT_MEMORY_BUDGET = 256 * 2**20

PairwiseFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Similarity = Union[str, PairwiseFn]


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


isotropic_gaussian_mls.symmetric = True  # lets a leave-one-out search score each pair once


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


#: Edge of a square score block: 2048 x 2048 float32 (16 MB) stays in a CPU's last-level cache, so
#: the top-k and the elementwise passes of a scorer read it from cache; accelerators take larger blocks.
BLOCK_EDGE = {"cpu": 2048}
DEFAULT_BLOCK_EDGE = 8192


def block_edge(device: torch.device, element_size: int, memory_budget: int) -> int:
    """Edge of the square score blocks: the device's default, shrunk until a block fits the budget."""
    edge = BLOCK_EDGE.get(device.type, DEFAULT_BLOCK_EDGE)
    fit = int(math.isqrt(max(1, memory_budget // (element_size + 1))))
    return max(1, min(edge, fit))


def _sort_ties_by_index(vals: torch.Tensor, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Order each row by descending value, equal values by ascending index. ``(c, k)`` each."""
    o = idx.argsort(dim=1)
    vals, idx = vals.gather(1, o), idx.gather(1, o)
    o = vals.argsort(dim=1, descending=True, stable=True)
    return vals.gather(1, o), idx.gather(1, o)


def _topk_set(s: torch.Tensor, k: int, index: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` best entries of each row of ``s (c, w)``, in no particular order: ``(c, min(k, w))`` each.

    ``index (c, w)`` gives each entry's gallery index (default: its column). Ties at the cut-off go
    to the smaller index: a row is sorted in full when its (k+1)-th best equals its k-th best.
    """
    c, w = s.shape
    if index is None:
        index = torch.arange(w, device=s.device).expand(c, w)
    if k >= w:
        return s, index
    vals, pos = torch.topk(s, k + 1, dim=1, largest=True, sorted=True)
    tie = (vals[:, k] == vals[:, k - 1]).nonzero().squeeze(1)
    vals, idx = vals[:, :k], index.gather(1, pos[:, :k])
    if tie.numel():
        tv, ti = _sort_ties_by_index(s[tie], index[tie])
        vals[tie], idx[tie] = tv[:, :k], ti[:, :k]
    return vals, idx


def _group_size(width: int, k: int) -> int:
    """Entries per group of the group-maximum pre-selection (1 = none): near ``sqrt(width / k)``,
    which balances the top-k over the group maxima against the one over the gathered groups, and
    leaving at least ``4 (k + 1)`` groups."""
    group = min(32, int(math.sqrt(width / max(k, 1))), width // (4 * (k + 1)))
    return max(group, 1)


#: Index of the filler entries (score -inf) that pad a candidate row: above every gallery index.
_FILLER = 2**62


def _block_candidates(s: torch.Tensor, k: int, columns: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """A few entries of every row of a score block ``s (r, c)`` (of every column if ``columns``)
    that include the row's exact top-k: ``(values, column indices)``, ``(rows or columns, w)`` each.

    Entries ``j, j + m, j + 2m, ...`` of a row's first ``m x group`` entries form a group; the
    remaining ``width mod group`` entries are always candidates. A top-k entry lies in one of the k
    groups with the largest maxima (or in that tail) unless the (k+1)-th largest maximum ties the
    k-th; such rows get their exact top-k instead, padded with -inf fillers. The group maxima reduce
    over contiguous slabs, and the column case reads ``s`` in place, without a transposed copy.
    """
    rows = s.T if columns else s
    n, width = rows.shape
    group = _group_size(width, k)
    if group == 1:
        return rows.clone(), torch.arange(width, device=s.device).expand(n, width)  # a copy: ``s`` is reused
    m = width // group
    body = m * group
    if columns:
        gmax = s[:body].view(group, m, n).amax(0).T  # (n, m)
    else:
        gmax = s[:, :body].unflatten(1, (group, m)).amax(1)
    top_v, top_g = torch.topk(gmax, k + 1, dim=1, largest=True, sorted=True)
    cols = (top_g[:, :k, None] + m * torch.arange(group, device=s.device)).flatten(1)  # (n, k * group)
    if body < width:
        cols = torch.cat([cols, torch.arange(body, width, device=s.device).expand(n, -1)], 1)
    vals = rows.gather(1, cols)
    tie = (top_v[:, k] == top_v[:, k - 1]).nonzero().squeeze(1)
    if tie.numel():
        tv, ti = _topk_set(rows[tie], k)
        vals[tie] = torch.cat([tv, tv.new_full((tie.numel(), vals.shape[1] - k), -math.inf)], 1)
        cols[tie] = torch.cat([ti, ti.new_full((tie.numel(), cols.shape[1] - k), _FILLER)], 1)
    return vals, cols


class _RunningTopK:
    """Best ``k`` (value, gallery index) per query row, merged block by block.

    Each block's candidates include its exact top-k (ties towards small indices), so the running
    set and a block's candidates together hold the top-k of both, which :func:`_topk_set` keeps.
    """

    def __init__(self, k: int):
        self.k = k
        self.vals: torch.Tensor | None = None
        self.idx: torch.Tensor | None = None

    def add(self, scores: torch.Tensor, offset: int, columns: bool = False) -> None:
        """Merge a score block ``(c, b)`` whose column 0 is gallery item ``offset``
        (``columns``: the block's columns are the queries and its row 0 is item ``offset``)."""
        v, i = _block_candidates(scores, self.k, columns)
        i = i + offset
        if self.vals is not None:
            v, i = torch.cat([self.vals, v], 1), torch.cat([self.idx, i], 1)
        self.vals, self.idx = _topk_set(v, self.k, i)

    def result(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(values, indices)`` sorted by descending value, equal values by ascending index."""
        return _sort_ties_by_index(self.vals, self.idx)


class _BlockScorer:
    """Score blocks ``(c, b)`` of one similarity, written into a reused buffer where possible."""

    def __init__(self, similarity: Similarity, queries: torch.Tensor, gallery: torch.Tensor):
        self.fn = similarity if callable(similarity) else None
        self.kind = None if callable(similarity) else similarity
        if self.kind not in (None, *SIMILARITIES):
            raise ConfigError(f"unknown similarity {similarity!r}; use one of {', '.join(SIMILARITIES)} or a callable.")
        if self.kind == "cosine":
            same = queries is gallery
            queries = F.normalize(queries, dim=1)
            gallery = queries if same else F.normalize(gallery, dim=1)
        self.queries, self.gallery = queries, gallery
        if self.kind == "l2":
            self.q_sq, self.g_sq = (queries * queries).sum(1), (gallery * gallery).sum(1)
        self._buf = torch.empty(0, dtype=queries.dtype, device=queries.device)

    @property
    def symmetric(self) -> bool:
        """``score(a, b) == score(b, a)`` (a callable declares it with ``fn.symmetric = True``)."""
        return self.fn is None or bool(getattr(self.fn, "symmetric", False))

    def __call__(self, q0: int, q1: int, g0: int, g1: int) -> torch.Tensor:
        a, b = self.queries[q0:q1], self.gallery[g0:g1]
        if self.fn is not None:
            return self.fn(a, b)
        size = (q1 - q0) * (g1 - g0)
        if self._buf.numel() < size:
            self._buf = torch.empty(size, dtype=a.dtype, device=a.device)
        out = torch.mm(a, b.T, out=self._buf[:size].view(q1 - q0, g1 - g0))
        if self.kind == "l2":  # -(|a|^2 + |b|^2 - 2 a.b), clamped at 0 like a distance
            out.mul_(-2).add_(self.q_sq[q0:q1, None]).add_(self.g_sq[None, g0:g1]).clamp_min_(0).neg_()
        return out


def _mask_self(s: torch.Tensor, query_ids: torch.Tensor | None, q0: int, g0: int) -> None:
    """Set ``s[r, query_ids[q0 + r] - g0] = -inf`` where that column lies inside the block."""
    if query_ids is None:
        return
    col = query_ids[q0:q0 + s.shape[0]] - g0
    r = ((col >= 0) & (col < s.shape[1])).nonzero().squeeze(1)
    if r.numel():
        s[r, col[r]] = -math.inf


def knn(queries: torch.Tensor, gallery: torch.Tensor, k: int, *, similarity: Similarity = "cosine",
        query_ids: torch.Tensor | None = None, memory_budget: int = DEFAULT_MEMORY_BUDGET,
        backend: str = "torch") -> tuple[torch.Tensor, torch.Tensor]:
    """Exact top-``k`` gallery items for every query, most similar first.

    The score matrix is formed one square block at a time (:func:`block_edge`), and each query keeps
    a running top-k over the gallery blocks. When ``queries is gallery`` (the same tensor), the
    similarity is symmetric and each query excludes at most itself (``query_ids`` None or
    ``arange``), every pair is scored once and serves both of its items: half the products of a
    leave-one-out search.

    Args:
        queries: ``(Q, P)``; gallery: ``(G, P)`` (same device and dtype).
        k: neighbours per query (capped at ``G``).
        similarity: ``"dot" | "cosine" | "l2"`` or a pairwise callable (see module doc).
        query_ids: ``(Q,)`` long, the gallery index of each query itself (excluded from its list),
            or -1 when the query is not in the gallery.
        memory_budget: bytes allowed for one score block and its temporaries.
        backend: ``"torch"`` (exact, deterministic ties) or ``"faiss"`` (IndexFlatIP/L2 on CPU,
            ties at the cut-off not guaranteed; only for the three named similarities).

    Returns:
        ``scores (Q, k')`` and ``indices (Q, k')`` with ``k' = min(k, G)``; rows with fewer valid
        items (self excluded) are padded with index -1 and score -inf.
    """
    v, i = knn_per_part(queries, gallery, k, [gallery.shape[0]], similarity=similarity, query_ids=query_ids,
                        memory_budget=memory_budget, backend=backend)
    return v[:, 0], i[:, 0]


def knn_per_part(queries: torch.Tensor, gallery: torch.Tensor, k: int, part_ends: list[int], *,
                 similarity: Similarity = "cosine", query_ids: torch.Tensor | None = None,
                 memory_budget: int = DEFAULT_MEMORY_BUDGET, backend: str = "torch"
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact top-``k`` of every query within each part of a gallery cut into consecutive parts.

    Part ``s`` is ``gallery[part_ends[s - 1]:part_ends[s]]`` (``part_ends`` non-decreasing, so a part
    may be empty; the last one is ``G``). The top-k of any union of parts is the top-k of their lists
    merged, so one search serves nested subsets such as the filter-out bins. Arguments as :func:`knn`.

    Returns:
        ``scores (Q, S, k')`` and ``indices (Q, S, k')`` (gallery indices) with ``k' = min(k, G)``,
        each part's list sorted (ties by index) and padded with index -1 and score -inf.
    """
    if queries.ndim != 2 or gallery.ndim != 2:
        raise ConfigError(f"knn expects 2-D queries and gallery, got {tuple(queries.shape)} and {tuple(gallery.shape)}.")
    num_q, num_g = queries.shape[0], gallery.shape[0]
    ends = [int(e) for e in part_ends]
    if not ends or ends[-1] != num_g or any(b < a for a, b in zip(ends, ends[1:])) or ends[0] < 0:
        raise ConfigError(f"part_ends must not decrease and must end at the gallery size {num_g}, got {ends[:8]}.")
    k = min(int(k), num_g)
    device = queries.device
    out_v = torch.full((num_q, len(ends), max(k, 0)), -math.inf, dtype=queries.dtype, device=device)
    out_i = torch.full((num_q, len(ends), max(k, 0)), -1, dtype=torch.long, device=device)
    if k <= 0 or num_q == 0:
        return out_v, out_i
    if backend == "faiss":
        for p, (g0, g1) in enumerate(zip([0] + ends[:-1], ends)):
            if g1 > g0:
                own = None if query_ids is None else torch.where(query_ids >= g0, query_ids - g0, -1)
                v, i = _knn_faiss(queries, gallery[g0:g1], min(k, g1 - g0), similarity, own)
                out_v[:, p, :v.shape[1]], out_i[:, p, :i.shape[1]] = v, torch.where(i >= 0, i + g0, -1)
        return out_v, out_i
    if backend != "torch":
        raise ConfigError(f"unknown knn backend {backend!r}; use 'torch' or 'faiss'.")
    scorer = _BlockScorer(similarity, queries, gallery)
    # a pairwise callable may hold ~3 matrices of the block's size at once (e.g. MLS: scores, variances)
    temporaries = 3 if callable(similarity) else 1
    edge = block_edge(device, max(queries.element_size(), 4) * temporaries, memory_budget)
    blocks = _part_blocks(ends, edge)
    symmetric = (queries is gallery and scorer.symmetric
                 and (query_ids is None or torch.equal(query_ids, torch.arange(num_q, device=query_ids.device))))
    if symmetric:
        q_starts = [g0 for g0, _, _ in blocks]
        lists = _search_symmetric(scorer, blocks, k, exclude_self=query_ids is not None)
    else:
        q_starts = list(range(0, num_q, edge))
        lists = [_search_rows(scorer, q0, min(num_q, q0 + edge), blocks, k, query_ids) for q0 in q_starts]
    for q0, per_part in zip(q_starts, lists):
        for p, best in per_part.items():
            v, i = best.result()
            out_v[q0:q0 + v.shape[0], p, :v.shape[1]] = v
            out_i[q0:q0 + v.shape[0], p, :v.shape[1]] = i
    if query_ids is not None:
        out_i.masked_fill_(torch.isneginf(out_v) & (out_i == query_ids[:, None, None]), -1)
    return out_v, out_i


def merge_parts(scores: torch.Tensor, indices: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-``k`` of the union of parts from per-part lists ``(Q, S, k0)`` (as :func:`knn_per_part`
    returns them): ``(Q, k)`` each, sorted by descending score, ties by index, padding (-1) last."""
    q = scores.shape[0]
    v, i = scores.reshape(q, -1), indices.reshape(q, -1)
    if scores.shape[1] > 1:
        i = torch.where(i >= 0, i, _FILLER)
        v, i = _sort_ties_by_index(*_topk_set(v, k, i))
        i = torch.where(i == _FILLER, -1, i)
    return v[:, :k], i[:, :k]


def _part_blocks(ends: list[int], edge: int) -> list[tuple[int, int, int]]:
    """Gallery blocks ``(start, end, part)``: every part cut into near-equal blocks of at most ``edge``
    items (no block straddles two parts, an empty part has none)."""
    blocks = []
    for p, (p0, p1) in enumerate(zip([0] + ends[:-1], ends)):
        if p1 == p0:
            continue
        count = -(-(p1 - p0) // edge)
        cuts = [p0 + (p1 - p0) * j // count for j in range(count + 1)]
        blocks += [(b0, b1, p) for b0, b1 in zip(cuts, cuts[1:])]
    return blocks


def _search_rows(scorer: _BlockScorer, q0: int, q1: int, blocks: list[tuple[int, int, int]], k: int,
                 query_ids: torch.Tensor | None) -> dict[int, _RunningTopK]:
    """Top-k of queries ``q0:q1`` in every part, over the gallery ``blocks``."""
    best: dict[int, _RunningTopK] = {}
    for g0, g1, p in blocks:
        s = scorer(q0, q1, g0, g1)
        _mask_self(s, query_ids, q0, g0)
        best.setdefault(p, _RunningTopK(k)).add(s, g0)
    return best


def _search_symmetric(scorer: _BlockScorer, blocks: list[tuple[int, int, int]], k: int,
                      exclude_self: bool) -> list[dict[int, _RunningTopK]]:
    """Leave-one-out top-k per part of a set against itself, the same ``blocks`` cutting rows and
    columns: block (a, b) with b >= a serves the rows of a (in b's part) and the rows of b (in a's)."""
    best: list[dict[int, _RunningTopK]] = [{} for _ in blocks]
    for a, (a0, a1, part_a) in enumerate(blocks):
        for b in range(a, len(blocks)):
            b0, b1, part_b = blocks[b]
            s = scorer(a0, a1, b0, b1)
            if b == a and exclude_self:
                s.fill_diagonal_(-math.inf)
            best[a].setdefault(part_b, _RunningTopK(k)).add(s, b0)
            if b != a:
                best[b].setdefault(part_a, _RunningTopK(k)).add(s, a0, columns=True)
    return best


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
    """Re-rank candidate lists by an arbitrary scorer (docs/reference.md §6.2 step 3).

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
