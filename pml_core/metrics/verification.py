"""Pair-verification metrics from pair scores, 0/1 labels and optional confidences (docs/reference.md §6.3).

Pure numpy in float64 (pair lists are 1-D; no sklearn at run time).

ROC convention: ``t_1 > ... > t_T`` are the distinct finite scores; point 0 is (0, 0) (threshold
+inf) and point i is (FP_i / Nneg, TP_i / Npos) for 'positive iff score >= t_i'.

TPR at a target FPR, two definitions:
* ``"closest"`` (the reference's, used by the golden cases): the ROC point whose FPR is closest to the
  target (ties -> the last index, i.e. lowest threshold); its FPR may exceed the target;
* ``"interpolate"`` (the correct one): the TPR of the ROC curve at FPR = target, linearly
  interpolated between the last point with FPR <= target and the next point (never exceeds it).

Accuracy, two protocols:
* ``max_accuracy`` (the reference's): threshold chosen on the evaluated data itself;
* ``accuracy_10fold`` (the LFW protocol): pairs split into 10 folds; for each fold the threshold
  maximising accuracy on the other nine is applied to it; the mean over folds. The folds keep the pair
  order within each class of pair: the j-th of the n positive pairs goes to fold floor(10 j / n), and
  likewise for the negatives. On files ordered as LFW's pairs.txt and the InsightFace bins (each block
  of pairs holds its own positives and negatives) these are exactly the consecutive blocks of the
  protocol; on sets listing all positives first (our sampled pair sets) every fold stays balanced.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from ..errors import DataError

__all__ = [
    "roc_curve",
    "roc_auc",
    "tpr_at_fpr",
    "max_accuracy",
    "kfold_accuracy",
    "eer",
    "verification_metrics",
    "confidence_auroc",
    "confidence_aupr",
    "confidence_aurcc",
]


def _np(x, dtype=np.float64) -> np.ndarray:
    try:
        import torch  # noqa: PLC0415

        if isinstance(x, torch.Tensor):
            x = x.detach().cpu().numpy()
    except ImportError:  # pragma: no cover
        pass
    return np.asarray(x, dtype=dtype).reshape(-1)


def roc_curve(scores, labels) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(fpr (T+1,), tpr (T+1,), thresholds (T+1,))`` with point 0 = (0, 0) at threshold +inf.

    FPR (TPR) is NaN when there is no negative (positive) pair.
    """
    s = _np(scores)
    y = _np(labels) > 0.5
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    tp = np.cumsum(y)
    fp = np.cumsum(~y)
    ends = np.r_[s[1:] != s[:-1], True] if s.size else np.zeros(0, dtype=bool)
    tp = np.r_[0, tp[ends]].astype(np.float64)
    fp = np.r_[0, fp[ends]].astype(np.float64)
    thr = np.r_[np.inf, s[ends]]
    npos, nneg = tp[-1], fp[-1]
    with np.errstate(invalid="ignore", divide="ignore"):
        tpr = tp / npos if npos > 0 else np.full_like(tp, np.nan)
        fpr = fp / nneg if nneg > 0 else np.full_like(fp, np.nan)
    return fpr, tpr, thr


def roc_auc(scores, labels) -> float:
    """Trapezoidal ROC AUC (ties count 1/2); NaN with a single class."""
    fpr, tpr, _ = roc_curve(scores, labels)
    if np.isnan(fpr).any() or np.isnan(tpr).any():
        return math.nan
    return float(np.trapezoid(tpr, fpr))


def tpr_at_fpr(fpr: np.ndarray, tpr: np.ndarray, targets: Sequence[float], mode: str = "interpolate"
               ) -> tuple[np.ndarray, np.ndarray]:
    """TPR (and the FPR actually used) at each target FPR, on a ROC from :func:`roc_curve`.

    ``mode="closest"``: the reference (largest index minimising ``|fpr_i - target|``).
    ``mode="interpolate"``: linear interpolation at FPR = target from the last point with
    FPR <= target (the returned FPR is the target, or the largest FPR available if smaller).
    """
    targets = np.asarray(targets, dtype=np.float64).reshape(-1)
    out_t = np.empty_like(targets)
    out_f = np.empty_like(targets)
    for n, f in enumerate(targets):
        if mode == "closest":
            d = np.abs(fpr - f)
            i = len(d) - 1 - int(np.argmin(d[::-1]))
            out_t[n], out_f[n] = tpr[i], fpr[i]
        elif mode == "interpolate":
            j = int(np.searchsorted(fpr, f, side="right")) - 1  # last point with fpr <= f (highest tpr)
            if j >= len(fpr) - 1 or fpr[j] == f:
                out_t[n], out_f[n] = tpr[j], fpr[j]
            else:
                w = (f - fpr[j]) / (fpr[j + 1] - fpr[j])
                out_t[n], out_f[n] = tpr[j] + w * (tpr[j + 1] - tpr[j]), f
        else:
            raise ValueError(f"unknown tpr_at_fpr mode {mode!r}; use 'closest' or 'interpolate'.")
    return out_t, out_f


def _accuracy_curve(fpr, tpr, pr):
    return pr * tpr + (1.0 - pr) * (1.0 - fpr)


def max_accuracy(scores, labels) -> tuple[float, float]:
    """Best accuracy over ROC thresholds and its threshold (first argmax). The reference's protocol."""
    y = _np(labels)
    fpr, tpr, thr = roc_curve(scores, y)
    pr = float(y.mean())
    acc = _accuracy_curve(np.nan_to_num(fpr), np.nan_to_num(tpr), pr)
    a = int(np.argmax(acc))
    return float(acc[a]), float(thr[a])


def kfold_accuracy(scores, labels, num_folds: int = 10) -> tuple[float, float]:
    """LFW-style accuracy: ``(mean, std)`` over class-stratified ordered folds (module doc), threshold
    tuned on the others.

    The threshold of a fold is the accuracy-maximising one of the other folds (first argmax), moved
    half-way to the next lower training score so that it does not sit on a training sample.
    """
    s, y = _np(scores), _np(labels) > 0.5
    n = s.size
    if n < num_folds:
        raise DataError(f"{num_folds}-fold accuracy needs at least {num_folds} pairs, got {n}.")
    folds = np.empty(n, dtype=np.int64)
    for value in (False, True):
        members = np.flatnonzero(y == value)
        folds[members] = np.arange(members.size) * num_folds // max(members.size, 1)
    accs = []
    for f in range(num_folds):
        test = folds == f
        if not test.any():  # fewer pairs of a kind than folds
            continue
        fpr, tpr, thr = roc_curve(s[~test], y[~test])
        acc = _accuracy_curve(np.nan_to_num(fpr), np.nan_to_num(tpr), float(y[~test].mean()))
        a = int(np.argmax(acc))
        # midway between the best threshold and the next lower score: the max-margin cut
        th = thr[a] if a + 1 >= thr.size or not np.isfinite(thr[a]) else (thr[a] + thr[a + 1]) / 2.0
        accs.append(float(np.mean((s[test] >= th) == y[test])))
    return float(np.mean(accs)), float(np.std(accs))


def eer(fpr: np.ndarray, tpr: np.ndarray) -> float:
    """Equal error rate as the reference: closest points to FPR = 1 - TPR searched from both ends."""
    d = np.abs(fpr - (1.0 - tpr))
    i1 = len(d) - 1 - int(np.argmin(d[::-1]))
    i2 = int(np.argmin(d))
    return float(min((fpr[i] + 1.0 - tpr[i]) / 2.0 for i in (i1, i2)))


def confidence_auroc(correct, confidences) -> float:
    """ROC AUC of predicting correctness from confidence; NaN if correctness is constant."""
    return roc_auc(confidences, correct)


def confidence_aupr(correct, confidences) -> float:
    """Trapezoidal area of the precision-recall curve (recall on x; end point (0, 1))."""
    c = _np(confidences)
    y = _np(correct) > 0.5
    if not y.any():
        return math.nan
    order = np.argsort(-c, kind="stable")
    c, y = c[order], y[order]
    ends = np.r_[c[1:] != c[:-1], True]
    tp = np.cumsum(y)[ends].astype(np.float64)
    k = (np.nonzero(ends)[0] + 1).astype(np.float64)
    precision = np.r_[1.0, tp / k]
    recall = np.r_[0.0, tp / tp[-1]]
    return float(np.sum(np.diff(recall) * (precision[1:] + precision[:-1]) / 2.0))


def confidence_aurcc(correct, confidences) -> float:
    """Area under the risk-coverage curve (most confident first, (0, 0) prepended)."""
    c = _np(confidences)
    err = 1.0 - (_np(correct) > 0.5)
    n = c.size
    if n == 0:
        return math.nan
    order = np.argsort(-c, kind="stable")
    k = np.arange(1, n + 1, dtype=np.float64)
    risk = np.r_[0.0, np.cumsum(err[order]) / k]
    cov = np.r_[0.0, k / n]
    return float(np.trapezoid(risk, cov))


def verification_metrics(scores, labels, confidences=None, *, fpr_targets: Sequence[float] = (1e-3,),
                         num_folds: int = 10, reference_float32_pr: bool = False) -> dict[str, float]:
    """All verification metrics of a list of pairs.

    Args:
        scores: ``(N,)`` pair similarities; non-finite entries are dropped with their label/confidence.
        labels: ``(N,)`` 1 = same identity, 0 = different.
        confidences: ``(N,)`` pair confidences (the reference: min of the two items') or None.
        fpr_targets: target FPRs; the first gives the reference keys ``tpr``/``fpr`` (closest point).
        reference_float32_pr: round the positive rate to float32 inside the accuracy curve as the
            reference does; this decides which of exactly tied max-accuracy thresholds is used by the
            confidence metrics (docs/reference.md Appendix C). Default: exact float64 (first argmax).

    Returns:
        ``pr, auc, max_accuracy, accuracy_10fold (accuracy_{k}fold), tpr, fpr, eer``, per target
        ``tpr@{f:g}`` (interpolated), ``tpr-closest@{f:g}``, ``fpr-closest@{f:g}``, and with
        confidences ``confidence_auroc, confidence_aupr, confidence_aurcc`` (at the max-accuracy
        threshold, prediction = score >= threshold).
    """
    s, y = _np(scores), _np(labels)
    if s.shape != y.shape:
        raise DataError(f"scores and labels must have the same length, got {s.size} and {y.size}.")
    if not np.isin(y, (0.0, 1.0)).all():
        raise DataError("verification labels must be 0 or 1.")
    c = None
    if confidences is not None:
        c = _np(confidences)
        if c.shape != s.shape:
            raise DataError(f"confidences must have length {s.size}, got {c.size}.")
    finite = np.isfinite(s)
    s, y = s[finite], y[finite]
    if c is not None:
        c = c[finite]
    if s.size == 0:
        raise DataError("no pair with a finite score.")
    fpr, tpr, thr = roc_curve(s, y)
    pr = float(y.mean())
    out: dict[str, float] = {"pr": pr}
    if pr in (0.0, 1.0):
        raise DataError("verification needs both positive and negative pairs.")
    out["auc"] = float(np.trapezoid(tpr, fpr))
    acc = _accuracy_curve(fpr, tpr, float(np.float32(pr)) if reference_float32_pr else pr)
    a = int(np.argmax(acc))
    out["max_accuracy"] = float(acc[a])
    if s.size >= num_folds:
        out[f"accuracy_{num_folds}fold"] = kfold_accuracy(s, y, num_folds)[0]
    t_close, f_close = tpr_at_fpr(fpr, tpr, fpr_targets, mode="closest")
    t_interp, _ = tpr_at_fpr(fpr, tpr, fpr_targets, mode="interpolate")
    out["tpr"], out["fpr"] = float(t_close[0]), float(f_close[0])
    for f, tc, fc, ti in zip(fpr_targets, t_close, f_close, t_interp):
        out[f"tpr@{f:g}"] = float(ti)
        out[f"tpr-closest@{f:g}"] = float(tc)
        out[f"fpr-closest@{f:g}"] = float(fc)
    out["eer"] = eer(fpr, tpr)
    if c is not None:
        correct = (s >= thr[a]) == (y > 0.5)
        out["confidence_auroc"] = confidence_auroc(correct, c)
        out["confidence_aupr"] = confidence_aupr(correct, c)
        out["confidence_aurcc"] = confidence_aurcc(correct, c)
    return out
