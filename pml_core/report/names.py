"""The names tables and figures print: config ids of methods, metrics and test sets -> the paper's names.

Method names follow the paper (ArcFace, vMF-FL, SCF, ...); a two-stage or design-choice variant is its
base method with the stage-0 loss and the modifiers in brackets, e.g. ``pfe-nms-arcface`` ->
"PFE (ArcFace; no self-match)". The modifiers are those of the name-component glossary of
``docs/reference.md §10.2``. An id without an entry (a user's own config) prints as itself.
"""

from __future__ import annotations

import re

METHOD_NAMES = {
    # deterministic
    "arcface": "ArcFace",
    "cosface": "CosFace",
    "cosface-bn": "CosFace (BN)",
    "nsoftmax": "Normalized Softmax",
    "proxy-anchor": "Proxy-Anchor",
    "proxy-nca": "Proxy-NCA",
    "multi-similarity": "Multi-Similarity",
    "dsml": "DSML",
    "dsml-gmm": "DSML (Gaussian)",
    "vmf-loss": "vMF-loss",
    "vmf-loss-det": "vMF-loss (deterministic targets)",
    # single-stage probabilistic
    "dul-cls-arcface": "DUL-cls (ArcFace)",
    "dul-cls-cosface": "DUL-cls (CosFace)",
    "dul-cls-vmf-cosface": "DUL-cls (CosFace; vMF)",
    "hib": "HIB",
    "spe": "SPE",
    "spe-l2": "SPE (L2 scorer)",
    "vmf": "vMF",
    "vmfmm": "vMF-FL",
    "vmfmm-mls": "vMF-FL (MLS scorer)",
    "vmfmm-ecs": "vMF-FL (ECS scorer)",
    "vmfmm-gmm": "vMF-FL (Gaussian)",
    # two-stage probabilistic
    "pfe-arcface": "PFE (ArcFace)",
    "pfe-cosface": "PFE (CosFace)",
    "pfe-cosface-bn": "PFE (CosFace; BN)",
    "pfe-nms-arcface": "PFE (ArcFace; no self-match)",
    "pfe-nms-cosface": "PFE (CosFace; no self-match)",
    "pfe-noaug-arcface": "PFE (ArcFace; no augmentation)",
    "pfe-noaug-cosface": "PFE (CosFace; no augmentation)",
    "pfe-vmf-arcface": "PFE (ArcFace; vMF)",
    "pfe-vmf-cosface": "PFE (CosFace; vMF)",
    "scl-arcface": "SCF (ArcFace)",
    "scl-cosface": "SCF (CosFace)",
    "scl-cosface-bn": "SCF (CosFace; BN)",
    "scl-ecs-arcface": "SCF (ArcFace; ECS scorer)",
    "scl-ecs-cosface": "SCF (CosFace; ECS scorer)",
    "scl-full-arcface": "SCF (ArcFace; full fine-tuning)",
    "scl-full-cosface": "SCF (CosFace; full fine-tuning)",
    "scl-gmm-arcface": "SCF (ArcFace; Gaussian)",
    "scl-gmm-cosface": "SCF (CosFace; Gaussian)",
    "scl-noaug-arcface": "SCF (ArcFace; no augmentation)",
    "scl-noaug-cosface": "SCF (CosFace; no augmentation)",
    "dul-reg-arcface": "DUL-reg (ArcFace)",
    "dul-reg-cosface": "DUL-reg (CosFace)",
    "dul-reg-cont-arcface": "DUL-reg (ArcFace; continued head)",
    "dul-reg-cont-cosface": "DUL-reg (CosFace; continued head)",
    "dul-reg-cont-cosface-bn": "DUL-reg (CosFace; continued head, BN)",
    "dul-reg-cont-cls-arcface": "DUL-reg (ArcFace; continued head, DUL-cls stage 0)",
    "dul-reg-cont-cls-cosface": "DUL-reg (CosFace; continued head, DUL-cls stage 0)",
    "dul-reg-cont-cls-mls-arcface": "DUL-reg (ArcFace; continued head, DUL-cls stage 0, MLS scorer)",
    "dul-reg-cont-cls-mls-cosface": "DUL-reg (CosFace; continued head, DUL-cls stage 0, MLS scorer)",
    "dul-reg-cont-ecs-arcface": "DUL-reg (ArcFace; continued head, ECS scorer)",
    "dul-reg-cont-ecs-cosface": "DUL-reg (CosFace; continued head, ECS scorer)",
    "dul-reg-cont-mls-arcface": "DUL-reg (ArcFace; continued head, MLS scorer)",
    "dul-reg-cont-mls-cosface": "DUL-reg (CosFace; continued head, MLS scorer)",
    "dul-reg-cont-mls-cosface-bn": "DUL-reg (CosFace; continued head, MLS scorer, BN)",
    "dul-reg-head-arcface": "DUL-reg (ArcFace; heads only)",
    "dul-reg-head-cosface": "DUL-reg (CosFace; heads only)",
    "dul-reg-head-cont-arcface": "DUL-reg (ArcFace; heads only, continued head)",
    "dul-reg-head-cont-cosface": "DUL-reg (CosFace; heads only, continued head)",
    "dul-reg-head-cont-cls-arcface": "DUL-reg (ArcFace; heads only, continued head, DUL-cls stage 0)",
    "dul-reg-head-cont-cls-cosface": "DUL-reg (CosFace; heads only, continued head, DUL-cls stage 0)",
    "dul-reg-noaug-cont-arcface": "DUL-reg (ArcFace; no augmentation, continued head)",
    "dul-reg-noaug-cont-cosface": "DUL-reg (CosFace; no augmentation, continued head)",
    "dul-reg-vmf-cont-arcface": "DUL-reg (ArcFace; vMF, continued head)",
    "dul-reg-vmf-cont-cosface": "DUL-reg (CosFace; vMF, continued head)",
    "dul-reg-vmf-head-cont-arcface": "DUL-reg (ArcFace; vMF, heads only, continued head)",
    "dul-reg-vmf-head-cont-cosface": "DUL-reg (CosFace; vMF, heads only, continued head)",
    "vanilla-reg-arcface": "Vanilla-reg (ArcFace)",
    "vanilla-reg-cosface": "Vanilla-reg (CosFace)",
}

METRIC_NAMES = {
    "mapr": "MAP@R",
    "mapr-ms": "MAP@R (self-match)",
    "erc-mapr": "ERC-MAP@R",
    "erc-recall@1": "ERC-Recall@1",
    "confidence-accuracy": "confidence accuracy",
    "quality_scc": "quality SCC",
    "confidence_auroc": "confidence AUROC",
    "confidence_aupr": "confidence AUPR",
    "confidence_aurcc": "confidence AURCC",
    "max_accuracy": "max accuracy",
    "accuracy_10fold": "10-fold accuracy",
    "auc": "ROC AUC",
    "eer": "EER",
}

DATASET_NAMES = {
    "glyphs": "Glyphs",
    "cub200": "CUB-200-2011",
    "cars196": "Cars196",
    "sop": "SOP",
    "inshop": "In-shop",
    "faces-ms1mv2": "MS1MV2",
    "faces-ms1mv3": "MS1MV3",
    "faces-casia": "CASIA-WebFace",
    "lfw": "LFW",
    "cfp_fp": "CFP-FP",
    "cfp_ff": "CFP-FF",
    "agedb_30": "AgeDB-30",
    "calfw": "CALFW",
    "cplfw": "CPLFW",
    "vgg2_fp": "VGG2-FP",
    "ijbb": "IJB-B",
    "ijbc": "IJB-C",
}


def method_name(method: str) -> str:
    """The paper's name of a method config id (the id itself when it has none)."""
    return METHOD_NAMES.get(method, method)


def metric_name(metric: str) -> str:
    """``recall@4`` -> Recall@4, ``tpr@0.001`` -> TPR@FPR=0.001, ``tar@far=1e-4`` -> TAR@FAR=1e-4, ..."""
    if metric in METRIC_NAMES:
        return METRIC_NAMES[metric]
    if re.fullmatch(r"recall@\d+", metric):
        return "Recall@" + metric.split("@")[1]
    if re.fullmatch(r"tpr@[0-9.e-]+", metric):
        return "TPR@FPR=" + metric.split("@")[1]
    if metric.startswith("tar@far="):
        return "TAR@FAR=" + metric.split("=", 1)[1]
    return metric


def dataset_name(dataset: str) -> str:
    """``cub200`` -> CUB-200-2011; a variant set keeps its suffix: ``glyphs-pairs`` -> Glyphs pairs."""
    for suffix, shown in (("-pairs", " pairs"), ("-lossy", " lossy")):
        if dataset.endswith(suffix):
            return dataset_name(dataset[: -len(suffix)]) + shown
    return DATASET_NAMES.get(dataset, dataset)
