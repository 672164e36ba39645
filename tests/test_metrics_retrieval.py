"""Retrieval metrics: worked examples (docs/reference.md §11), PML cross-check, filter-out exactness, memory, errors."""

import math

import numpy as np
import pytest
import torch

from pml_core.errors import ConfigError, DataError
from pml_core.metrics import (
    erc_curve,
    filter_out_curves,
    isotropic_gaussian_mls,
    knn,
    knn_per_part,
    pairwise_from_scorer,
    retrieval_erc_curves,
    retrieval_metrics,
)

MAPR_LABELS = [1, 1, 0, 1, 2, 2, 0, 0, 1]
RECALL_LABELS = [1, 1, 0, 2, 0, 1]
RECALL_POS = [0, 0.5, 1.5, 3.5, 4, 5]


def _mapr_x():
    return torch.tensor([[i ** 1.01] for i in range(9)], dtype=torch.float64)


def _clustered(n_classes=40, seed=0, dim=8, dup=True, singletons=5):
    g = torch.Generator().manual_seed(seed)
    sizes = torch.randint(1, 7, (n_classes,), generator=g).tolist() + [1] * singletons
    centres = torch.randn(len(sizes), dim, generator=g, dtype=torch.float64)
    xs, ys = [], []
    for c, s in enumerate(sizes):
        pts = centres[c] + 0.9 * torch.randn(s, dim, generator=g, dtype=torch.float64)
        if dup and s >= 3:
            pts[1] = pts[0]  # exact duplicate inside the class: similarity tie
        xs.append(pts)
        ys += [c * 7 + 3] * s  # non-contiguous labels
    perm = torch.randperm(sum(sizes), generator=g)
    x = torch.cat(xs)[perm]
    y = torch.tensor(ys)[perm]
    conf = torch.rand(x.shape[0], generator=g, dtype=torch.float64)
    return x, y, conf


# --- kNN ------------------------------------------------------------------------------------------

def test_knn_reference_example():
    x = torch.tensor([[2, 0], [2.1, 0], [1.1, 0], [0, 1], [0, 0]], dtype=torch.float64)
    _, idx = knn(x, x, 2, similarity="l2")
    assert idx.tolist() == [[0, 1], [1, 0], [2, 0], [3, 4], [4, 3]]


def test_knn_ties_smaller_index_first_and_self_exclusion():
    g = torch.tensor([[1.0, 0], [0, 1], [1, 0], [1, 0], [0.5, 0.5]])
    v, idx = knn(g[:1], g, 2, similarity="dot", query_ids=torch.tensor([0]))
    assert idx.tolist() == [[2, 3]]
    _, idx = knn(g[:1], g, 4, similarity="dot", memory_budget=1)
    assert idx.tolist() == [[0, 2, 3, 4]]
    _, idx = knn(g[:1], g, 10, similarity="dot", query_ids=torch.tensor([0]))
    assert idx.tolist() == [[2, 3, 4, 1, -1]]


def _brute_force_scores(x: torch.Tensor, sim: str) -> torch.Tensor:
    """Full float64 similarity matrix with the diagonal (self) at -inf."""
    x = x.double()
    xn = torch.nn.functional.normalize(x, dim=1) if sim == "cosine" else x
    s = -torch.cdist(x, x) ** 2 if sim == "l2" else xn @ xn.T
    return s.fill_diagonal_(-math.inf)


@pytest.mark.parametrize("sim", ["dot", "cosine", "l2"])
def test_knn_blocking_is_exact_for_tiny_budgets(sim):
    """Any block size (budget 1 = 1 x 1 blocks) returns a true top-k list with the true scores."""
    x, _, _ = _clustered(seed=1)
    x = x.float()
    qid = torch.arange(x.shape[0])
    oracle = _brute_force_scores(x, sim)
    best = torch.sort(oracle, dim=1, descending=True).values[:, :7]
    for budget in (1, 1000, 10**5, None):
        kwargs = {} if budget is None else {"memory_budget": budget}
        v, i = knn(x, x, 7, similarity=sim, query_ids=qid, **kwargs)
        # the returned scores are the 7 best scores, and each is the score of the returned item;
        # items whose scores differ by float32 rounding only (exact duplicates) may swap places
        torch.testing.assert_close(v.double(), best, rtol=1e-5, atol=1e-4)
        torch.testing.assert_close(oracle.gather(1, i), best, rtol=1e-5, atol=1e-4)
        assert (i != qid[:, None]).all()


@pytest.mark.parametrize("sim", ["dot", "l2"])
@pytest.mark.parametrize("budget", [1, 700, 5000, None])
def test_knn_ties_across_blocks_go_to_smaller_index(sim, budget):
    """Small-integer vectors have exact scores in any summation order: the lists must equal a stable
    full sort, so ties (many exact duplicates) are broken by index across blocks, in the symmetric
    leave-one-out path and in the query -> gallery path alike."""
    g = torch.Generator().manual_seed(5)
    x = torch.randint(-2, 3, (90, 3), generator=g).float()
    kwargs = {} if budget is None else {"memory_budget": budget}
    oracle = _brute_force_scores(x, sim)
    expected = torch.sort(oracle, dim=1, descending=True, stable=True).indices[:, :9]
    _, loo = knn(x, x, 9, similarity=sim, query_ids=torch.arange(90), **kwargs)
    assert torch.equal(loo, expected)
    _, qg = knn(x.clone(), x, 9, similarity=sim, query_ids=torch.arange(90), **kwargs)  # not the same tensor
    assert torch.equal(qg, expected)


@pytest.mark.parametrize("dim, high", [(3, 3), (6, 4)])
@pytest.mark.parametrize("k, budget", [(1, None), (5, None), (5, 256**2 * 5), (13, 200**2 * 5)])
def test_knn_group_preselection_keeps_exact_ties(dim, high, k, budget):
    """600 small-integer vectors (3-D: 125 distinct points, so block rows and group maxima tie
    constantly): blocks of 600, 256 or 200 entries take the group-maximum pre-selection (groups of
    8 or 4) in both the row and the column direction, and must still equal a stable full sort."""
    g = torch.Generator().manual_seed(dim + k)
    x = torch.randint(-high + 1, high, (600, dim), generator=g).float()
    kwargs = {} if budget is None else {"memory_budget": budget}
    expected = torch.sort(_brute_force_scores(x, "dot"), dim=1, descending=True, stable=True).indices[:, :k]
    _, got = knn(x, x, k, similarity="dot", query_ids=torch.arange(600), **kwargs)
    assert torch.equal(got, expected)


@pytest.mark.parametrize("budget", [None, 700])
@pytest.mark.parametrize("same_tensor", [True, False])
def test_knn_per_part_equals_a_search_of_each_part(budget, same_tensor):
    """Parts (one empty, one narrower than k) give the lists of a separate search of each part,
    for the symmetric leave-one-out path and the query -> gallery path, with exact ties."""
    g = torch.Generator().manual_seed(11)
    x = torch.randint(-2, 3, (120, 3), generator=g).float()
    ends = [30, 30, 33, 90, 120]
    kwargs = {} if budget is None else {"memory_budget": budget}
    queries = x if same_tensor else x.clone()
    v, i = knn_per_part(queries, x, 6, ends, similarity="dot", query_ids=torch.arange(120), **kwargs)
    assert v.shape == i.shape == (120, 5, 6)
    for bad in ([30, 20, 120], [30, 119], []):
        with pytest.raises(ConfigError, match="part_ends"):
            knn_per_part(queries, x, 6, bad)
    for p, (g0, g1) in enumerate(zip([0] + ends[:-1], ends)):
        own = torch.arange(120) - g0
        own[(own < 0) | (own >= g1 - g0)] = -1
        ev, ei = knn(x, x[g0:g1], 6, similarity="dot", query_ids=own)
        ei = torch.where(ei >= 0, ei + g0, -1)
        width = ei.shape[1]
        assert torch.equal(i[:, p, :width], ei), p
        assert torch.equal(v[:, p, :width], ev), p
        assert (i[:, p, width:] == -1).all() and torch.isneginf(v[:, p, width:]).all()


def test_retrieval_chunking_is_identical_for_tiny_budget():
    x, y, c = _clustered(seed=2)
    a = retrieval_metrics(x, y, c, num_filter_out_bins=4)
    b = retrieval_metrics(x, y, c, num_filter_out_bins=4, memory_budget=1)
    assert a == b


def test_faiss_backend_matches_torch():
    pytest.importorskip("faiss")
    x, y, c = _clustered(seed=3, dup=False)
    a = retrieval_metrics(x.float(), y, c)
    b = retrieval_metrics(x.float(), y, c, backend="faiss")
    for k in a:
        assert a[k] == pytest.approx(b[k], abs=1e-9), k


# --- worked examples (docs/reference.md §11) -----------------------------------------------------------

def test_mapr_example():
    r = retrieval_metrics(_mapr_x(), MAPR_LABELS, scorer="l2", recall_k=(1,))
    assert r["mapr-ms"] == pytest.approx(0.5617284, abs=1e-7)
    assert r["mapr"] == pytest.approx(0.3302469, abs=1e-7)


def test_recall_example():
    x = torch.tensor(RECALL_POS, dtype=torch.float64)[:, None]
    r = retrieval_metrics(x, RECALL_LABELS, scorer="l2", recall_k=(1, 2, 3, 4, 5, 10))
    expected = {1: 2 / 5, 2: 2 / 5, 3: 3 / 5, 4: 1, 5: 1, 10: 1}
    for k, v in expected.items():
        assert r[f"recall@{k}"] == pytest.approx(v), k


def test_erc_recall_example():
    x = torch.tensor(RECALL_POS, dtype=torch.float64)[:, None]
    r = retrieval_metrics(x, RECALL_LABELS, [0, 2, 4, 5, 3, 1], scorer="l2", recall_k=(1,))
    assert r["erc-recall@1"] == pytest.approx(0.8033333, abs=1e-7)


def test_erc_mapr_example():
    r = retrieval_metrics(_mapr_x(), MAPR_LABELS, [0, 2, 4, 6, 8, 7, 5, 3, 1], scorer="l2", recall_k=(1,))
    assert r["erc-mapr"] == pytest.approx(0.6921529, abs=1e-7)
    curves = retrieval_erc_curves(_mapr_x(), MAPR_LABELS, [0, 2, 4, 6, 8, 7, 5, 3, 1], scorer="l2")
    frac, err = curves["erc-mapr"]
    assert frac[-1] == 1.0 and err.mean() == pytest.approx(0.6921529, abs=1e-7)


def test_erc_curve_definition():
    frac, err = erc_curve(torch.tensor([1.0, 0.0, 1.0]), torch.tensor([0.1, 0.9, 0.5]))
    np.testing.assert_allclose(frac, [1 / 3, 2 / 3, 1])
    np.testing.assert_allclose(err, [0, 0.5, 2 / 3])


# --- cross-check against pytorch-metric-learning -------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1])
def test_matches_pytorch_metric_learning(seed):
    pytest.importorskip("pytorch_metric_learning")
    from pytorch_metric_learning.utils.accuracy_calculator import AccuracyCalculator

    x, y, _ = _clustered(n_classes=60, seed=seed, dim=6, singletons=8)
    x = torch.nn.functional.normalize(x.float(), dim=1)
    calc = AccuracyCalculator(include=("precision_at_1", "mean_average_precision_at_r"), k="max_bin_count")
    pml = calc.get_accuracy(x, y, x, y, ref_includes_query=True)
    ours = retrieval_metrics(x, y, scorer="cosine", recall_k=(1,))
    counts = torch.bincount(torch.unique(y, return_inverse=True)[1])
    n_q = int((counts[torch.unique(y, return_inverse=True)[1]] > 1).sum())
    assert ours["recall@1"] == pytest.approx(pml["precision_at_1"], abs=1e-6)
    assert ours["mapr"] == pytest.approx(pml["mean_average_precision_at_r"] * n_q / x.shape[0], abs=1e-6)


# --- filter-out without re-search -----------------------------------------------------------------

def _brute_subset(x, y, c, kept, **kw):
    idx = kept.nonzero().squeeze(1)
    return retrieval_metrics(x[idx], y[idx], c[idx], **kw)


@pytest.mark.parametrize("budget", [None, 3000])
def test_filter_out_equals_brute_force_recomputation(budget):
    x, y, c = _clustered(n_classes=50, seed=5)
    c = torch.round(c * 20) / 20  # tied confidences: ties are all kept
    bins = 10
    res = retrieval_metrics(x, y, c, num_filter_out_bins=bins, **({} if budget is None else {"memory_budget": budget}))
    sorted_c = torch.sort(c).values
    for f in np.linspace(0, 0.9, bins):
        kept = c >= sorted_c[round((len(c) - 1) * f)]
        if torch.unique(y[kept]).numel() < 2:
            continue
        brute = _brute_subset(x, y, c, kept)
        for k, v in brute.items():
            got = res[f"filter-out/{f:.3f}/{k}"]
            assert (math.isnan(v) and math.isnan(got)) or got == pytest.approx(v, abs=1e-12), (f, k)
    fr, curves = filter_out_curves(x, y, c, num_bins=bins)
    assert fr.shape == (bins,) and curves["mapr"][0] == pytest.approx(res["mapr"])


@pytest.mark.filterwarnings("ignore:no query has a relevant gallery item")
@pytest.mark.parametrize("backend", ["torch", "faiss"])
def test_filter_out_in_the_query_gallery_protocol_equals_brute_force(backend):
    if backend == "faiss":
        pytest.importorskip("faiss")
    x, y, c = _clustered(n_classes=60, seed=8, dup=False)
    x = x.float()
    is_query = torch.rand(x.shape[0], generator=torch.Generator().manual_seed(1)) < 0.4
    res = retrieval_metrics(x, y, c, query_mask=is_query, num_filter_out_bins=6, backend=backend)
    sorted_c = torch.sort(c).values
    for f in np.linspace(0, 0.9, 6):
        kept = c >= sorted_c[round((len(c) - 1) * f)]
        idx = kept.nonzero().squeeze(1)
        if not is_query[idx].any() or is_query[idx].all() or torch.unique(y[idx]).numel() < 2:
            continue
        brute = retrieval_metrics(x[idx], y[idx], c[idx], query_mask=is_query[idx])
        for k, v in brute.items():
            got = res[f"filter-out/{f:.3f}/{k}"]
            assert (math.isnan(v) and math.isnan(got)) or got == pytest.approx(v, abs=1e-9), (f, k)


def test_filter_out_with_reranking_equals_brute_force():
    x, y, c = _clustered(n_classes=30, seed=6)
    var = 0.1 + torch.rand(x.shape[0], dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    params = torch.cat([x, var[:, None]], 1)
    score_fn = _mls_bcast
    kw = dict(rerank_fn=score_fn, modes=x, num_filter_out_bins=5)
    res = retrieval_metrics(params, y, c, **kw)
    sorted_c = torch.sort(c).values
    for f in np.linspace(0, 0.9, 5):
        kept = c >= sorted_c[round((len(c) - 1) * f)]
        idx = kept.nonzero().squeeze(1)
        brute = retrieval_metrics(params[idx], y[idx], c[idx], rerank_fn=score_fn, modes=x[idx])
        for k, v in brute.items():
            got = res[f"filter-out/{f:.3f}/{k}"]
            assert (math.isnan(v) and math.isnan(got)) or got == pytest.approx(v, abs=1e-12), (f, k)


# --- scorer-aware retrieval ------------------------------------------------------------------------

def _mls_bcast(a, b):
    """Broadcasting isotropic-Gaussian MLS: (Q,1,D+1) x (Q,K,D+1) -> (Q,K)."""
    d = a.shape[-1] - 1
    s = a[..., d] + b[..., d]
    d2 = ((a[..., :d] - b[..., :d]) ** 2).sum(-1)
    return -0.5 * d * math.log(2 * math.pi) - 0.5 * d * torch.log(s) - d2 / (2 * s)


def test_exact_mls_search_matches_brute_force_and_generic_scorer():
    x, y, c = _clustered(n_classes=30, seed=7)
    var = 0.05 + torch.rand(x.shape[0], dtype=torch.float64, generator=torch.Generator().manual_seed(1)) * 3
    params = torch.cat([x, var[:, None]], 1)
    exact = retrieval_metrics(params, y, c, scorer=isotropic_gaussian_mls, memory_budget=2000)
    generic = retrieval_metrics(params, y, c, scorer=pairwise_from_scorer(_mls_bcast, block=17))
    # reference protocol with every item a candidate (recall_k includes N) is the exact ranking too
    brute = retrieval_metrics(params, y, c, rerank_fn=_mls_bcast, modes=x, candidate_similarity="l2",
                              recall_k=(1, 2, 4, 8, x.shape[0]))
    for k in exact:
        assert exact[k] == pytest.approx(generic[k], abs=1e-12), k
    full = _full_rank_metrics(params, y)
    assert exact["recall@1"] == pytest.approx(full["recall@1"])
    assert exact["mapr"] == pytest.approx(full["mapr"])
    assert brute["recall@1"] == pytest.approx(exact["recall@1"], abs=1e-12)
    assert brute["mapr"] == pytest.approx(exact["mapr"], abs=1e-12)


def _full_rank_metrics(params, y):
    """Oracle: full N x N MLS matrix, stable sort, explicit loops."""
    s = _mls_bcast(params[:, None, :], params[None, :, :].expand(len(y), -1, -1))
    s.fill_diagonal_(-math.inf)
    order = torch.sort(s, dim=1, descending=True, stable=True).indices
    y = torch.as_tensor(y)
    hits, aps = [], []
    for i in range(len(y)):
        m = (y[order[i, :-1]] == y[i]).double()
        r = int((y == y[i]).sum()) - 1
        if r > 0:
            hits.append(m[0].item())
        prec = m.cumsum(0) / torch.arange(1, len(m) + 1)
        aps.append(float((m * prec)[:r].sum() / max(r, 1)))
    return {"recall@1": float(np.mean(hits)), "mapr": float(np.mean(aps))}


def test_rerank_protocol_uses_l2_candidates_then_scorer():
    # 1-D: modes by L2, scorer prefers the far item; R = max(k, max class) candidates only.
    x = torch.tensor([[0.0], [1.0], [5.0], [5.1]], dtype=torch.float64)
    y = [0, 1, 0, 1]
    far = lambda a, b: (a[..., 0] - b[..., 0]).abs()  # noqa: E731 (larger distance = more similar)
    r = retrieval_metrics(x, y, rerank_fn=far, modes=x, recall_k=(1,))
    # R-1 = max(1, 2) = 2 L2 candidates: for item 0 -> [1, 2]; re-ranked -> 2 first (match)
    assert r["recall@1"] == pytest.approx(np.mean([1, 0, 1, 0]))


# --- query / gallery protocol ----------------------------------------------------------------------

def test_query_gallery_mode_matches_manual_split():
    x, y, c = _clustered(n_classes=30, seed=8)
    g = torch.Generator().manual_seed(3)
    qmask = torch.rand(len(y), generator=g) < 0.4
    res = retrieval_metrics(x, y, c, query_mask=qmask)
    # oracle: explicit loops
    qi, gi = qmask.nonzero().squeeze(1), (~qmask).nonzero().squeeze(1)
    s = torch.nn.functional.normalize(x[qi], dim=1) @ torch.nn.functional.normalize(x[gi], dim=1).T
    order = torch.sort(s, dim=1, descending=True, stable=True).indices
    hits, aps = [], []
    for a, i in enumerate(qi):
        m = (y[gi[order[a]]] == y[i]).double()
        r = int((y[gi] == y[i]).sum())
        if r:
            hits.append(m[0].item())
        prec = m.cumsum(0) / torch.arange(1, len(m) + 1)
        aps.append(float((m * prec)[:r].sum() / max(r, 1)))
    assert res["recall@1"] == pytest.approx(np.mean(hits))
    assert res["mapr"] == pytest.approx(np.mean(aps))
    assert res["mapr-ms"] == pytest.approx(res["mapr"])  # queries are not in the gallery: no self


# --- degenerate and bad input ---------------------------------------------------------------------

def test_bad_inputs_raise_clear_errors():
    x = torch.randn(6, 3)
    y = torch.tensor([0, 0, 1, 1, 2, 2])
    with pytest.raises(DataError, match="labels"):
        retrieval_metrics(x, y[:5])
    bad = x.clone()
    bad[2, 1] = float("nan")
    with pytest.raises(DataError, match="NaN"):
        retrieval_metrics(bad, y)
    with pytest.raises(DataError, match="two classes"):
        retrieval_metrics(x, torch.zeros(6, dtype=torch.long))
    with pytest.raises(DataError, match="gallery"):
        retrieval_metrics(x, y, query_mask=torch.ones(6, dtype=torch.bool))
    with pytest.raises(DataError, match="confidences"):
        retrieval_metrics(x, y, torch.ones(4))
    with pytest.raises(ConfigError):
        retrieval_metrics(x, y, metrics=["precision"])
    with pytest.raises(ConfigError):
        retrieval_metrics(x, y, scorer="manhattan")


def test_all_singletons_gives_nan_recall_with_warning():
    x = torch.randn(5, 3)
    with pytest.warns(UserWarning, match="singletons"):
        r = retrieval_metrics(x, [0, 1, 2, 3, 4], torch.rand(5))
    assert math.isnan(r["recall@1"]) and r["mapr"] == 0.0 and math.isnan(r["confidence-accuracy"])


@pytest.mark.parametrize("protocol", ["leave-one-out", "query-gallery", "rerank"])
def test_query_errors_reproduce_the_erc_values_bit_for_bit(protocol):
    x, y, c = _clustered(seed=4)  # singletons: no relevant item, excluded from erc-recall@1 only
    kwargs = {}
    if protocol == "query-gallery":
        kwargs["query_mask"] = torch.arange(len(y)) % 3 == 0
    if protocol == "rerank":
        kwargs.update(rerank_fn=lambda q, cand: -((q - cand) ** 2).sum(-1), modes=x)
    errors = {}
    out = retrieval_metrics(x, y, c.float(), query_errors=errors, **kwargs)
    conf = c.float().numpy()
    queries = kwargs["query_mask"].numpy() if "query_mask" in kwargs else np.ones(len(y), bool)
    for name in ("erc-recall@1", "erc-mapr"):
        valid = ~np.isnan(errors[name])
        _, curve = erc_curve(torch.from_numpy(errors[name][valid]), torch.from_numpy(conf[valid]))
        assert float(curve.mean()) == out[name], name
    assert np.array_equal(~np.isnan(errors["erc-mapr"]), queries)  # every query, singletons as error 1
    assert np.isnan(errors["erc-recall@1"][queries]).sum() > 0  # the singleton queries
    assert set(np.unique(errors["erc-recall@1"][~np.isnan(errors["erc-recall@1"])])) <= {0.0, 1.0}


def test_query_errors_stay_empty_without_confidences():
    x, y, _ = _clustered(seed=4)
    errors = {}
    retrieval_metrics(x, y, query_errors=errors)
    assert errors == {}
