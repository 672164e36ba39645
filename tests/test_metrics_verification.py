"""Verification and quality metrics: docs/reference.md §11 examples and sklearn / scipy oracles."""

import numpy as np
import pytest

from pml_core.errors import DataError
from pml_core.metrics import quality_scc, verification_metrics
from pml_core.metrics.verification import kfold_accuracy, roc_curve, tpr_at_fpr

SCORES = np.arange(10.0)
LABELS = np.array([0, 0, 1, 0, 1, 1, 0, 1, 1, 1])
CONF = np.array([.5, .5, .5, .1, .5, .5, .9, .5, .5, 1.0])


def test_reference_example():
    # thresholds 4 and 2 tie at accuracy 0.8; the reference's float32 positive rate picks 2
    r = verification_metrics(SCORES, LABELS, CONF, fpr_targets=(1 / 3,), reference_float32_pr=True)
    assert r["pr"] == pytest.approx(0.6)
    assert r["max_accuracy"] == pytest.approx(0.8)
    assert r["fpr"] == pytest.approx(1 / 4) and r["tpr"] == pytest.approx(5 / 6)
    assert r["eer"] == pytest.approx(0.2083333, abs=1e-7)
    assert r["confidence_auroc"] == pytest.approx(0.5625)
    assert r["confidence_aupr"] == pytest.approx(0.7326389, abs=1e-7)
    assert r["confidence_aurcc"] == pytest.approx(0.1928968, abs=1e-7)
    # exact float64: first argmax = threshold 4; wrong pairs have confidences .5 and .9
    exact = verification_metrics(SCORES, LABELS, CONF, fpr_targets=(1 / 3,))
    assert exact["max_accuracy"] == pytest.approx(0.8)
    assert exact["confidence_auroc"] == pytest.approx(5 / 16)


def test_against_sklearn():
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 500)
    s = np.round(rng.normal(y * 1.0, 1.0), 1)  # ties
    c = rng.random(500)
    r = verification_metrics(s, y, c)
    assert r["auc"] == pytest.approx(sk.roc_auc_score(y, s), abs=1e-12)
    fpr, tpr, _ = sk.roc_curve(y, s, drop_intermediate=False)
    ours_f, ours_t, _ = roc_curve(s, y)
    np.testing.assert_allclose(ours_f, fpr)
    np.testing.assert_allclose(ours_t, tpr)
    # confidence metrics against sklearn at our threshold
    fpr_, tpr_, thr = roc_curve(s, y)
    acc = y.mean() * tpr_ + (1 - y.mean()) * (1 - fpr_)
    correct = (s >= thr[np.argmax(acc)]) == y
    assert r["confidence_auroc"] == pytest.approx(sk.roc_auc_score(correct, c), abs=1e-12)
    p, rc, _ = sk.precision_recall_curve(correct, c)
    assert r["confidence_aupr"] == pytest.approx(-np.trapezoid(p, rc), abs=1e-12)


def test_tpr_at_fpr_definitions():
    fpr = np.array([0.0, 0.0, 0.1, 0.3, 1.0])
    tpr = np.array([0.0, 0.2, 0.5, 0.9, 1.0])
    t, f = tpr_at_fpr(fpr, tpr, [0.2, 0.1, 0.05, 0.31], mode="interpolate")
    np.testing.assert_allclose(t, [0.7, 0.5, 0.35, 0.9 + 0.1 * 0.01 / 0.7])
    np.testing.assert_allclose(f, [0.2, 0.1, 0.05, 0.31])
    t, f = tpr_at_fpr(fpr, tpr, [0.2, 0.29], mode="closest")
    np.testing.assert_allclose(t, [0.9, 0.9])  # 0.2 is equidistant from 0.1 and 0.3: the last one
    np.testing.assert_allclose(f, [0.3, 0.3])  # exceeds the target (reference behaviour)


def test_kfold_folds_are_the_lfw_blocks_and_stay_balanced():
    # LFW order (each block of 10 pairs: 5 positives then 5 negatives): folds are the consecutive blocks
    y = np.tile(np.r_[np.ones(5), np.zeros(5)], 10).astype(int)
    s = np.random.default_rng(0).normal(size=100) + y
    blocks = np.repeat(np.arange(10), 10)
    expected = []
    for f in range(10):
        train = blocks != f
        best = max(np.r_[s[train], np.inf], key=lambda t: (np.mean((s[train] >= t) == y[train]), t))  # highest best
        lower = s[train][s[train] < best]
        threshold = (best + lower.max()) / 2 if lower.size else best
        expected.append(np.mean((s[blocks == f] >= threshold) == y[blocks == f]))
    assert kfold_accuracy(s, y, 10)[0] == pytest.approx(np.mean(expected))
    # all positives first (sampled pair sets): a good scorer still scores well in every fold
    order = np.argsort(-y, kind="stable")
    assert kfold_accuracy(s[order], y[order], 10)[0] == pytest.approx(kfold_accuracy(s, y, 10)[0])


def test_kfold_accuracy_uses_held_out_thresholds():
    # first half: positives above 0; second half: positives below 0 -> thresholds from the other
    # folds transfer badly; the oracle threshold of max_accuracy does not see this.
    s = np.r_[np.linspace(-1, 1, 50), -np.linspace(-1, 1, 50)]
    y = np.r_[np.arange(50) >= 25, np.arange(50) >= 25].astype(int)
    mean, _ = kfold_accuracy(s, y, 10)
    r = verification_metrics(s, y)
    assert r["accuracy_10fold"] == pytest.approx(mean)
    assert mean < r["max_accuracy"]
    # a perfectly separable set is perfect under both
    s2 = np.r_[np.linspace(-1, -0.1, 50), np.linspace(0.1, 1, 50)]
    y2 = np.r_[np.zeros(50), np.ones(50)].astype(int)
    rng = np.random.default_rng(1).permutation(100)
    assert kfold_accuracy(s2[rng], y2[rng], 10)[0] == 1.0


def test_nonfinite_dropped_and_bad_input():
    s = np.r_[SCORES, np.nan, np.inf]
    y = np.r_[LABELS, 1, 0]
    c = np.r_[CONF, 0.3, 0.2]
    assert verification_metrics(s, y, c) == verification_metrics(SCORES, LABELS, CONF)
    with pytest.raises(DataError):
        verification_metrics(SCORES, LABELS[:5])
    with pytest.raises(DataError):
        verification_metrics(SCORES, np.ones(10))
    with pytest.raises(DataError):
        verification_metrics(SCORES, LABELS * 2)


def test_quality_example():
    conf = [106, 100, 86, 101, 99, 103, 97, 113, 112, 110]
    quality = [7, 27, 2, 50, 28, 29, 20, 12, 6, 17]
    assert quality_scc(quality, conf) == pytest.approx(-0.17575757575757575, abs=1e-12)


def test_quality_ties_against_scipy():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(2)
    a, b = rng.integers(0, 5, 200), rng.integers(0, 7, 200)
    assert quality_scc(a, b) == pytest.approx(stats.spearmanr(a, b).statistic, abs=1e-12)
