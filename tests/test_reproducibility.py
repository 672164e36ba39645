"""Reproducibility across CPUs: the kernel pin (`pml_core.reproducibility`) and the table tolerance check."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from pml_core import reproducibility
from pml_core.errors import DataError
from pml_core.report import compare_tables

ROOT = Path(__file__).resolve().parent.parent

CHILD = """
import json, sys, tempfile
from pathlib import Path
from pml_core.config import parse_config
from pml_core.experiments.grid import run_config_dict
from pml_core.experiments.run import train_run
cfg = parse_config(run_config_dict("tiny", "glyphs", "dul-cls-arcface", 8, 0))
with tempfile.TemporaryDirectory() as folder:
    train_run(cfg, Path(folder) / "run", sys.argv[1], logger="none", progress=False)
    print(json.dumps({"metrics": (Path(folder) / "run" / "metrics.json").read_text(),
                      "kernels": json.loads((Path(folder) / "run" / "provenance.json").read_text())["cpu_kernels"]}))
"""


def _run(env_patch: dict, data_root: Path, pin: bool) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in (*reproducibility.PIN, reproducibility.FLAG)}
    env.update(env_patch)
    env["PYTHONPATH"] = str(ROOT)
    if pin:
        env = reproducibility.pinned_environment(env)
    result = subprocess.run([sys.executable, "-c", CHILD, str(data_root)], env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_pinned_runs_are_identical_across_emulated_cpus(data_root):
    """Under the pin a short run (convolutions, batch norm, matrix products, Gaussian sampling) writes the same
    metrics.json whatever ISA, MKL path and thread count the 'machine' would choose (BENCHMARKS.md, "Glyphs tuning":
    unpinned, each of these switches changes the numbers)."""
    machines = [{"OMP_NUM_THREADS": "2", "ATEN_CPU_CAPABILITY": "avx512", "MKL_CBWR": "AVX512"},
                {"OMP_NUM_THREADS": "1", "ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "AVX512_CORE",
                 "MKL_ENABLE_INSTRUCTIONS": "AVX2"}]
    runs = [_run(machine, data_root, pin=True) for machine in machines]
    assert runs[0]["metrics"] == runs[1]["metrics"]
    for run in runs:
        kernels = run["kernels"]
        assert kernels["pinned"] and kernels["threads"] == 1 and kernels["aten_capability"] == "AVX2"
        assert kernels["environment"]["MKL_CBWR"] == reproducibility.PIN["MKL_CBWR"]


def test_pinned_environment_replaces_machine_switches():
    env = reproducibility.pinned_environment({"ATEN_CPU_CAPABILITY": "avx512", "OMP_NUM_THREADS": "8", "HOME": "/x"})
    assert {k: env[k] for k in reproducibility.PIN} == reproducibility.PIN
    assert env["HOME"] == "/x" and env[reproducibility.FLAG] == "1"
    assert reproducibility.is_pinned(env) and not reproducibility.is_pinned({**env, "MKL_CBWR": "AVX2"})
    out = subprocess.run([sys.executable, "-m", "pml_core.reproducibility"], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True).stdout
    assert "export ATEN_CPU_CAPABILITY=avx2" in out and f"export {reproducibility.FLAG}=1" in out


def _table(means, stds):
    return pd.DataFrame({"method": ["a", "b", "c"], "dim": [128] * 3,
                         "mean/glyphs/recall@1": means, "std/glyphs/recall@1": stds, "n/glyphs/recall@1": [2] * 3})


def test_compare_tables_tolerance():
    old = _table([0.50, 0.30, 0.70], [0.04, 0.01, 0.001])
    same = compare_tables.compare_frames("t", old, old.copy())
    assert all(c.ok and c.committed == c.regenerated for c in same)
    pooled = (sum(s * s for s in (0.04, 0.01, 0.001)) / 3) ** 0.5  # 0.0238: the column's seed spread
    # c moves by 0.06 (60 of its own spreads, 2.5 pooled ones): within 3 pooled spreads.
    near = compare_tables.compare_frames("t", old, _table([0.50, 0.30, 0.76], [0.04, 0.01, 0.001]))
    assert [c.ok for c in near] == [True, True, True]
    assert near[2].tolerance == pytest.approx(3 * pooled)
    far = compare_tables.compare_frames("t", old, _table([0.50, 0.20, 0.70], [0.04, 0.01, 0.001]))
    assert [c.ok for c in far] == [True, False, True]
    with pytest.raises(DataError, match="rows"):
        compare_tables.compare_frames("t", old, old.iloc[:2])


def test_compare_tables_cli(tmp_path):
    (tmp_path / "old").mkdir()
    (tmp_path / "new").mkdir()
    _table([0.5, 0.3, 0.7], [0.04, 0.01, 0.001]).to_csv(tmp_path / "old" / "table_x.csv", index=False)
    _table([0.5, 0.3, 0.71], [0.04, 0.01, 0.001]).to_csv(tmp_path / "new" / "table_x.csv", index=False)
    assert compare_tables.main([str(tmp_path / "old"), str(tmp_path / "new")]) == 0
    _table([0.5, 0.1, 0.7], [0.04, 0.01, 0.001]).to_csv(tmp_path / "new" / "table_x.csv", index=False)
    assert compare_tables.main([str(tmp_path / "old"), str(tmp_path / "new")]) == 1
    assert compare_tables.main([str(tmp_path / "old"), str(tmp_path / "missing")]) == 1
