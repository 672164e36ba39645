"""Every method family of configs/methods validates (all stages) over base + each dataset, and builds on glyphs."""

import json
from pathlib import Path

import pytest

from pml_core.config import compose, num_stages, parse_config, stage_config
from pml_core.experiments.grid import profile_grid, run_config_dict

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
METHODS = sorted(p.stem for p in (CONFIGS / "methods").glob("*.yaml"))
TWO_STAGE_PREFIX = ("pfe-", "scl-", "dul-reg-", "vanilla-reg-")


def test_families_present():
    """The reference's 68 families (configs/reference/grid.json) plus the marked kit additions, nothing else."""
    paper = set(json.loads((CONFIGS / "reference" / "grid.json").read_text())["families"])
    additions = {m for m in METHODS if "# Kit addition:" in (CONFIGS / "methods" / f"{m}.yaml").read_text()}
    assert len(paper) == 68
    assert set(METHODS) == paper | additions
    assert additions == {"pfe-nms-cosface", "scl-ecs-cosface"}
    for method in METHODS:
        header = (CONFIGS / "methods" / f"{method}.yaml").read_text().splitlines()[0]
        assert header.startswith(f"# Method family `{method}`: "), header


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


@pytest.mark.parametrize("profile", ["tiny", "smoke"])
def test_profile_grid_composes(profile):
    """Every run of the tiny and smoke grids composes and validates (the paper grid: tests/test_reference_grid.py)."""
    grid = profile_grid(profile)
    paper = set(json.loads((CONFIGS / "reference" / "grid.json").read_text())["families"])
    runs = grid["methods"] + grid.get("variants", [])
    assert set(runs) <= paper, set(runs) - paper
    for variants in grid.get("ablations", {}).values():
        assert set(variants) <= set(runs)
    for dataset in grid["datasets"]:
        for method in runs:
            for dim in grid["dims"]:
                cfg = parse_config(run_config_dict(profile, dataset, method, dim, grid["seeds"][0]))
                for index in range(num_stages(cfg)):
                    stage_config(cfg, index)
