"""Report names: every method of the grids has the paper's name; metric and dataset names for headers."""

from __future__ import annotations

import pytest

from conftest import ROOT
from pml_core.experiments.grid import profile_grid
from pml_core.report.names import METHOD_NAMES, dataset_name, method_name, metric_name


@pytest.mark.parametrize("profile", ["paper", "smoke", "tiny"])
def test_every_method_of_a_grid_has_a_paper_name(profile):
    grid = profile_grid(profile)
    methods = grid["methods"] + grid.get("variants", [])
    missing = [m for m in methods if m not in METHOD_NAMES]
    assert not missing, f"{profile}: no paper name for {missing} (pml_core/report/names.py)"
    assert len({METHOD_NAMES[m] for m in methods}) == len(set(methods)), "two methods print the same name"


def test_every_method_config_has_a_name():
    ids = sorted(p.stem for p in (ROOT / "configs" / "methods").glob("*.yaml"))
    assert ids and [m for m in ids if m not in METHOD_NAMES] == []


def test_names_follow_the_paper():
    assert method_name("arcface") == "ArcFace"
    assert method_name("vmfmm") == "vMF-FL"
    assert method_name("scl-arcface") == "SCF (ArcFace)"
    assert method_name("pfe-nms-arcface") == "PFE (ArcFace; no self-match)"
    assert method_name("my-own-method") == "my-own-method"  # a user's config prints as its id


def test_metric_and_dataset_names():
    assert [metric_name(m) for m in ("mapr", "recall@1", "erc-recall@1", "quality_scc", "tpr@0.001",
                                     "tar@far=1e-4", "unknown_key")] == \
        ["MAP@R", "Recall@1", "ERC-Recall@1", "quality SCC", "TPR@FPR=0.001", "TAR@FAR=1e-4", "unknown_key"]
    assert dataset_name("cub200") == "CUB-200-2011"
    assert dataset_name("glyphs-pairs") == "Glyphs pairs"
    assert dataset_name("inshop-lossy") == "In-shop lossy"
