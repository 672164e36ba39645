"""The metrics area's golden mapping reproduces every nearest_neighbour / verification case."""

import importlib.util
import json
import os
from pathlib import Path

import numpy as np
import pytest

GOLDEN = Path(os.environ.get("PML_GOLDEN_DIR", Path(__file__).resolve().parents[1] / ".." / "shared" / "golden"))
GROUPS = ("nearest_neighbour", "verification")


def _load_mapping():
    spec = importlib.util.spec_from_file_location("golden_map_metrics", Path(__file__).parent / "golden_map" / "metrics.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.CASES


def _cases():
    manifest = json.loads((GOLDEN / "manifest.json").read_text())
    return [c for c in manifest["cases"] if c.get("group") in GROUPS]


CASES = _load_mapping()


def test_every_case_of_the_groups_is_mapped():
    names = {c["name"] for c in _cases()}
    assert names and names <= set(CASES), sorted(names - set(CASES))


@pytest.mark.parametrize("case", _cases(), ids=lambda c: c["name"])
def test_golden_case(case):
    arrays = dict(np.load(GOLDEN / case["file"]))
    out = CASES[case["name"]](arrays, case["hyperparameters"])
    for name, spec in case["outputs"].items():
        actual = np.asarray(out[name], dtype=np.float64)
        expected = arrays[name]
        assert actual.shape == expected.shape, name
        np.testing.assert_allclose(actual, expected, rtol=spec["rtol"], atol=spec["atol"], equal_nan=True,
                                   err_msg=f"{case['name']}:{name}")
