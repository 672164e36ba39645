"""Runs every case of the golden folder (tests/golden/, the reference values; $PML_GOLDEN_DIR may point elsewhere).

Each case is mapped in tests/golden_map/<area>.py; a case without a mapping fails. An output passes
when |actual - expected| <= atol + rtol |expected| elementwise (NaN expected <=> NaN actual).
Where ``reference_only`` holds ``matches_exact`` and an exact partner ``<output>_exact``:
* rows with matches_exact = 0 (the reference deviates from the mathematical value, e.g. its log-Bessel
  underflow fallback) are compared with the exact value instead;
* rows with matches_exact = 1 pass when they match the reference value or the exact value (the flag
  was set at a looser tolerance than some outputs' rtol, so the exact value is always acceptable).
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

TESTS = Path(__file__).resolve().parent
GOLDEN = Path(os.environ.get("PML_GOLDEN_DIR", TESTS / "golden")).resolve()


def _load_golden_map():
    spec = importlib.util.spec_from_file_location(
        "golden_map", TESTS / "golden_map" / "__init__.py", submodule_search_locations=[str(TESTS / "golden_map")]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["golden_map"] = module
    spec.loader.exec_module(module)
    return module


GOLDEN_MAP = _load_golden_map()


def _manifest_cases():
    manifest_path = GOLDEN / "manifest.json"
    if not manifest_path.is_file():  # reported by test_golden_folder_has_cases, not as a collection error
        return []
    return json.loads(manifest_path.read_text())["cases"]


CASES = _manifest_cases()


def test_golden_folder_has_cases():
    assert CASES, f"no golden manifest.json in {GOLDEN} (tests/golden/ ships with the repository; PML_GOLDEN_DIR overrides it)"


def test_golden_map_modules_import():
    assert not GOLDEN_MAP.IMPORT_ERRORS, "\n".join(f"{k}:\n{v}" for k, v in GOLDEN_MAP.IMPORT_ERRORS.items())
    assert not GOLDEN_MAP.DUPLICATES, f"cases mapped by several modules: {GOLDEN_MAP.DUPLICATES}"


def _expected_with_exact(case, arrays, name, expected):
    """(expected, alternative or None): exact values replace deviating rows; exact is an alternative elsewhere."""
    ref_only = case.get("reference_only", {})
    exact_name = f"{name}_exact"
    if "matches_exact" not in ref_only or exact_name not in ref_only:
        return expected, None
    exact = np.asarray(arrays[exact_name], dtype=np.float64)
    flags = np.asarray(arrays["matches_exact"]).astype(bool)
    flags = flags.reshape(flags.shape + (1,) * (expected.ndim - flags.ndim))
    return np.where(flags, expected, exact), exact


def _close(actual, expected, rtol, atol):
    both_nan = np.isnan(actual) & np.isnan(expected)
    with np.errstate(invalid="ignore"):
        ok = np.abs(actual - expected) <= atol + rtol * np.abs(expected)
        ok |= (actual == expected)  # equal infinities
    return ok | both_nan


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_golden_case(case):
    fn = GOLDEN_MAP.CASES.get(case["name"])
    if fn is None:
        hint = f" (modules that failed to import: {sorted(GOLDEN_MAP.IMPORT_ERRORS)})" if GOLDEN_MAP.IMPORT_ERRORS else ""
        pytest.fail(f"golden case {case['name']!r} (group {case.get('group')}) has no mapping in tests/golden_map/{hint}")
    arrays = dict(np.load(GOLDEN / case["file"]))
    inputs = {k: arrays[k].copy() for k in case["inputs"]}
    out = fn(inputs, case.get("hyperparameters", {}))
    failures = []
    for name, spec in case["outputs"].items():
        assert name in out, f"mapping of {case['name']!r} does not return output {name!r}"
        expected = np.asarray(arrays[name], dtype=np.float64)
        actual = np.asarray(out[name], dtype=np.float64)
        assert actual.shape == expected.shape, f"{name}: shape {actual.shape} != expected {expected.shape}"
        target, alternative = _expected_with_exact(case, arrays, name, expected)
        ok = _close(actual, target, spec["rtol"], spec["atol"])
        if alternative is not None:
            ok |= _close(actual, alternative, spec["rtol"], spec["atol"])
        if not ok.all():
            bad = np.argwhere(~ok)[:5]
            rows = "; ".join(f"{tuple(i)}: got {actual[tuple(i)]!r}, expected {target[tuple(i)]!r}" for i in bad)
            failures.append(f"{name}: {int((~ok).sum())}/{ok.size} mismatches (rtol {spec['rtol']}, atol {spec['atol']}): {rows}")
    assert not failures, "\n".join(failures)
