"""Every method family of configs/methods validates (all stages) over base + each dataset, and builds on glyphs."""

from pathlib import Path

import pytest

from pml_core.config import compose, parse_config, stage_config

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
METHODS = sorted(p.stem for p in (CONFIGS / "methods").glob("*.yaml"))
TWO_STAGE_PREFIX = ("pfe-", "scl-", "dul-reg-", "vanilla-reg-")


def test_families_present():
    expected = {"arcface", "cosface", "cosface-bn", "nsoftmax", "proxy-anchor", "proxy-nca", "multi-similarity", "dsml",
                "dsml-gmm", "vmf-loss", "vmf-loss-det", "dul-cls-arcface", "dul-cls-cosface", "dul-cls-vmf-cosface", "hib",
                "spe", "spe-l2", "vmf", "vmfmm", "vmfmm-mls", "vmfmm-ecs", "vmfmm-gmm", "pfe-arcface", "scl-arcface",
                "dul-reg-arcface", "vanilla-reg-arcface"}
    assert expected <= set(METHODS)
    assert len(METHODS) >= 68


@pytest.mark.parametrize("method", METHODS)
def test_method_validates(method):
    for dataset in ("glyphs", "cub200"):
        raw = compose([CONFIGS / "base.yaml", CONFIGS / "datasets" / f"{dataset}.yaml", CONFIGS / "methods" / f"{method}.yaml"])
        cfg = parse_config(raw)
        stages = len(cfg.stages or [])
        assert stages == (2 if method.startswith(TWO_STAGE_PREFIX) else 0)
        if stages == 2:
            last = stage_config(cfg, 1)
            assert last.resume_prefixes and "_embedder._stem." in last.resume_prefixes
