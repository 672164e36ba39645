"""Every classifier and loss case of the golden manifest through tests/golden_map/methods.py."""

import json
import os
from pathlib import Path

import numpy as np
import pytest

from golden_map.methods import CASES

GOLDEN = Path(os.environ.get("PML_GOLDEN_DIR", Path(__file__).resolve().parents[2] / "shared" / "golden"))
MANIFEST = json.loads((GOLDEN / "manifest.json").read_text()) if (GOLDEN / "manifest.json").is_file() else {"cases": []}
MINE = [c for c in MANIFEST["cases"] if c["group"] in ("classifier", "loss")]


def test_every_case_mapped():
    if not MINE:
        pytest.skip(f"no golden manifest under {GOLDEN}")
    assert {c["name"] for c in MINE} <= set(CASES)


@pytest.mark.parametrize("case", MINE, ids=[c["name"] for c in MINE])
def test_golden_case(case):
    arrays = dict(np.load(GOLDEN / case["file"]))
    inputs = {k: v for k, v in arrays.items() if k in case["inputs"]}
    got = CASES[case["name"]](inputs, case["hyperparameters"])
    for name, spec in case["outputs"].items():
        np.testing.assert_allclose(np.asarray(got[name], dtype=np.float64), arrays[name], rtol=spec["rtol"],
                                   atol=spec["atol"], err_msg=f"{case['name']}.{name}")
