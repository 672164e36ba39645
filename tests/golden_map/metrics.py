"""Golden mapping of the metrics area: nearest_neighbour and verification cases of golden/manifest.json."""

from __future__ import annotations

import numpy as np
import torch

from pml_core.metrics import filter_out_fractions, retrieval_metrics, verification_metrics

NN_METRICS = ("recall@1", "recall@2", "recall@4", "recall@8", "mapr", "mapr-ms", "erc-recall@1", "erc-mapr",
              "confidence-accuracy")


def _output_name(metric: str) -> str:
    return metric.replace("@", "_at_").replace("-", "_")


def _nn_case(arrays, hp):
    ks = tuple(int(k) for k in hp.get("recall_k", (1, 2, 4, 8)))
    res = retrieval_metrics(torch.from_numpy(arrays["x"]), torch.from_numpy(arrays["labels"]),
                            torch.from_numpy(arrays["confidences"]), recall_k=ks, scorer="cosine")
    return {_output_name(k): np.asarray(v, dtype=np.float64) for k, v in res.items()}


def _nn_filter_out(arrays, hp):
    bins = int(hp["num_bins"])
    order = hp["metric_order"]
    ks = sorted({int(m.split("@")[1]) for m in order if m.startswith("recall@")})
    res = retrieval_metrics(torch.from_numpy(arrays["x"]), torch.from_numpy(arrays["labels"]),
                            torch.from_numpy(arrays["confidences"]), recall_k=ks, scorer="cosine",
                            num_filter_out_bins=bins)
    fractions = filter_out_fractions(bins)
    table = np.array([[res[f"filter-out/{f:.3f}/{m}"] for m in order] for f in fractions])
    return {"fractions": fractions, "table": table}


def _verification_case(arrays, hp):
    targets = arrays["fpr_targets"]
    res = verification_metrics(arrays["scores"], arrays["labels"], arrays["confidences"], fpr_targets=targets,
                               reference_float32_pr=True)
    out = {k: np.asarray(res[k]) for k in ("pr", "max_accuracy", "auc", "eer", "confidence_auroc",
                                           "confidence_aupr", "confidence_aurcc")}
    out["tpr_at_fpr"] = np.array([res[f"tpr-closest@{f:g}"] for f in targets])
    out["fpr_at_fpr"] = np.array([res[f"fpr-closest@{f:g}"] for f in targets])
    return out


CASES = {
    "nn_tiny": _nn_case,
    "nn_medium": _nn_case,
    "nn_large": _nn_case,
    "nn_ties": _nn_case,
    "nn_filter_out": _nn_filter_out,
    "verification_gaussian": _verification_case,
    "verification_ties": _verification_case,
    "verification_nonfinite": _verification_case,
    "verification_small": _verification_case,
}
