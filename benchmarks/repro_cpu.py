"""What the smoke numbers depend on across x86-64 CPUs, emulated on this one (BENCHMARKS.md, "Glyphs tuning").

    PYTHONPATH=$PWD .venv/bin/python benchmarks/repro_cpu.py [--suite sensitivity|pinned|glyphs|all]
        [--methods arcface hib] [--epochs 2] [--steps 8] [--data-root DIR] [--json OUT]

Each setting is a fresh Python process (the kernel libraries read their switches at start-up) that trains a
short glyphs run of each method (smoke profile, ``--epochs`` epochs of ``--steps`` batches, every test set)
and prints the sha256 of its ``metrics.json`` (every metric at full precision), its test recall@1 and its wall
time. Settings emulate other machines through the switches that choose the CPU kernels:

* ATen's per-ISA kernels: ``ATEN_CPU_CAPABILITY=default|avx2|avx512``;
* MKL (matrix products): ``MKL_ENABLE_INSTRUCTIONS=AVX2|AVX512`` (the ISA it may use) and
  ``MKL_CBWR=AVX2|AVX512|COMPATIBLE`` (conditional numerical reproducibility: one fixed code path; on AMD, MKL
  otherwise takes other paths than on Intel, and only COMPATIBLE is common to both);
* oneDNN (convolutions): ``ONEDNN_MAX_CPU_ISA=AVX2|AVX512_CORE`` (the JIT kernels it may generate);
* intra-op threads (``OMP_NUM_THREADS`` = ``torch.set_num_threads``) and data-loader workers.

Suites: ``sensitivity`` varies one switch at a time from the defaults (which ones change the numbers);
``pinned`` applies the kit's reproducibility pin (`pml_core.reproducibility`) and varies the machine-side
switches under it (does the pin hold); ``cost`` runs the same short runs unpinned and under candidate pins
and prints their CPU seconds (how much slower a pin is; not part of ``all``); ``glyphs`` regenerates the glyph arrays with
numpy's AVX-512 kernels disabled (does the dataset itself depend on the CPU).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SWITCHES = ("ATEN_CPU_CAPABILITY", "MKL_CBWR", "MKL_ENABLE_INSTRUCTIONS", "ONEDNN_MAX_CPU_ISA", "OMP_NUM_THREADS",
            "MKL_NUM_THREADS", "PML_REPRODUCIBLE_CPU", "PML_MKLDNN", "NPY_DISABLE_CPU_FEATURES")

# Candidate pins, for their cost (CPU seconds of the same runs): unpinned one-thread runs against each.
COST = [
    ("cost: unpinned, 1 thread", {"OMP_NUM_THREADS": "1"}, False),
    ("cost: pin", {}, True),
    ("cost: pin, oneDNN off", {"PML_MKLDNN": "0"}, True),
    ("cost: pin, MKL_CBWR=COMPATIBLE,STRICT", {"MKL_CBWR": "COMPATIBLE,STRICT"}, True),
    ("cost: pin, ATen default", {"ATEN_CPU_CAPABILITY": "default"}, True),
]

SENSITIVITY = [
    ("defaults, 1 thread", {"OMP_NUM_THREADS": "1"}),
    ("2 threads", {"OMP_NUM_THREADS": "2"}),
    ("4 threads", {"OMP_NUM_THREADS": "4"}),
    ("1 loader worker", {"OMP_NUM_THREADS": "1", "--workers": "1"}),
    ("ATen default", {"OMP_NUM_THREADS": "1", "ATEN_CPU_CAPABILITY": "default"}),
    ("ATen avx2", {"OMP_NUM_THREADS": "1", "ATEN_CPU_CAPABILITY": "avx2"}),
    ("MKL AVX2 instructions", {"OMP_NUM_THREADS": "1", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}),
    ("MKL_CBWR=AVX512", {"OMP_NUM_THREADS": "1", "MKL_CBWR": "AVX512"}),
    ("MKL_CBWR=AVX2", {"OMP_NUM_THREADS": "1", "MKL_CBWR": "AVX2"}),
    ("MKL_CBWR=COMPATIBLE", {"OMP_NUM_THREADS": "1", "MKL_CBWR": "COMPATIBLE"}),
    ("oneDNN AVX2", {"OMP_NUM_THREADS": "1", "ONEDNN_MAX_CPU_ISA": "AVX2"}),
    ("oneDNN AVX512_CORE", {"OMP_NUM_THREADS": "1", "ONEDNN_MAX_CPU_ISA": "AVX512_CORE"}),
]

# Under the pin: the machine-side switches the pin must make irrelevant (each emulates another CPU).
PINNED = [
    ("pin", {}),
    ("pin + 2 threads requested", {"OMP_NUM_THREADS": "2"}),
    ("pin + 4 threads requested", {"OMP_NUM_THREADS": "4"}),
    ("pin + 1 loader worker", {"--workers": "1"}),
    ("pin + machine ATen avx512", {"ATEN_CPU_CAPABILITY": "avx512"}),
    ("pin + machine ATen default", {"ATEN_CPU_CAPABILITY": "default"}),
    ("pin + MKL AVX2 only", {"MKL_ENABLE_INSTRUCTIONS": "AVX2"}),
    ("pin + MKL_CBWR=AVX512 (Intel AVX-512 path)", {"MKL_CBWR": "AVX512"}),
    ("pin + MKL_CBWR=AVX2 (Intel AVX2 path)", {"MKL_CBWR": "AVX2"}),
    ("pin + oneDNN AVX512_CORE", {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE"}),
    ("pin + oneDNN AVX2", {"ONEDNN_MAX_CPU_ISA": "AVX2"}),
]


def child(args) -> int:
    """Train the short runs in this process and print one JSON line per method."""
    import torch

    from pml_core import reproducibility
    from pml_core.config import parse_config
    from pml_core.experiments.grid import run_config_dict
    from pml_core.experiments.run import train_run

    applied = reproducibility.apply_from_environment()
    for method in args.methods:
        overrides = [f"trainer_params.num_epochs={args.epochs}", f"trainer_params.max_steps_per_epoch={args.steps}",
                     f"dataset_params.num_workers={args.workers}"]
        raw = run_config_dict("smoke", "glyphs", method, 128, 0, overrides)
        for stage in raw.get("stages") or []:  # a two-stage method: the same short budget per stage
            stage.setdefault("trainer_params", {})["num_epochs"] = args.epochs
        cfg = parse_config(raw)
        with tempfile.TemporaryDirectory() as folder:
            started, cpu = time.perf_counter(), time.process_time()
            metrics = train_run(cfg, Path(folder) / "run", args.data_root, logger="none", progress=False)
            seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
            digest = hashlib.sha256((Path(folder) / "run" / "metrics.json").read_bytes()).hexdigest()[:16]
        print(json.dumps({"method": method, "sha": digest, "recall@1": metrics["infer-glyphs"]["recall@1"],
                          "mapr": metrics["infer-glyphs"]["mapr"], "seconds": round(seconds, 1),
                          "cpu_seconds": round(cpu, 1),
                          "threads": torch.get_num_threads(), "capability": torch.backends.cpu.get_cpu_capability(),
                          "mkldnn": torch.backends.mkldnn.enabled, "pin": applied}), flush=True)
    return 0


def glyphs_child(args) -> int:
    import numpy as np

    from pml_core.data.glyphs import generate

    arrays = generate(num_classes=320, samples_per_class=16, image_size=32, seed=0)
    digest = hashlib.sha256(np.ascontiguousarray(arrays["images"]).tobytes()).hexdigest()[:16]
    print(json.dumps({"method": "glyphs", "sha": digest}), flush=True)
    return 0


def run_setting(label: str, env_patch: dict, args, pin: bool, glyphs: bool = False) -> list[dict]:
    env = {k: v for k, v in os.environ.items() if k not in SWITCHES}
    env["PYTHONPATH"] = str(ROOT)
    workers = env_patch.get("--workers", "0")
    env.update({k: v for k, v in env_patch.items() if not k.startswith("--")})
    if pin:
        from pml_core.reproducibility import pinned_environment

        env = pinned_environment(env)
        if label.startswith("cost:"):  # a candidate pin: its own values replace the pin's
            env.update({k: v for k, v in env_patch.items() if not k.startswith("--")})
    command = [sys.executable, __file__, "--child-glyphs" if glyphs else "--child", "--workers", workers,
               "--epochs", str(args.epochs), "--steps", str(args.steps), "--data-root", str(args.data_root),
               "--methods", *args.methods]
    started = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    if result.returncode != 0 or not rows:
        print(f"{label}: FAILED\n{result.stderr[-2000:]}", flush=True)
        return []
    for row in rows:
        row.update(label=label, process_seconds=round(time.perf_counter() - started, 1))
        print(f"{label:44s} {row['method']:10s} {row['sha']} "
              + (f"r@1 {row['recall@1']:.6f} {row['seconds']:6.1f} s (CPU {row['cpu_seconds']:6.1f} s) "
                 f"threads {row['threads']} {row['capability']} mkldnn {row['mkldnn']}"
                 if "seconds" in row else ""), flush=True)
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suite", default="all", choices=["sensitivity", "pinned", "glyphs", "cost", "all"])
    parser.add_argument("--methods", nargs="+", default=["arcface", "hib"])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--workers", default="0")
    parser.add_argument("--data-root", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None, help="write every row here")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child-glyphs", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.data_root is None:
        from pml_core.data import default_data_root

        args.data_root = default_data_root()
    if args.child:
        return child(args)
    if args.child_glyphs:
        return glyphs_child(args)
    print(f"load {os.getloadavg()}; methods {args.methods}, {args.epochs} epochs x {args.steps} steps", flush=True)
    rows = []
    if args.suite in ("glyphs", "all"):
        rows += run_setting("glyphs, numpy defaults", {}, args, pin=False, glyphs=True)
        rows += run_setting("glyphs, numpy without AVX-512", {"NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL"}, args,
                            pin=False, glyphs=True)
    if args.suite in ("sensitivity", "all"):
        for label, patch in SENSITIVITY:
            rows += run_setting(label, patch, args, pin=False)
    if args.suite in ("pinned", "all"):
        for label, patch in PINNED:
            rows += run_setting(label, patch, args, pin=True)
    if args.suite == "cost":
        for label, patch, pin in COST:
            rows += run_setting(label, patch, args, pin=pin)
    for suite in ("sensitivity", "pinned"):
        chosen = [r for r in rows if (r["label"].startswith("pin") == (suite == "pinned")) and "seconds" in r]
        for method in args.methods:
            shas = {r["sha"] for r in chosen if r["method"] == method}
            if shas:
                print(f"{suite}: {method}: {len(shas)} distinct metrics.json over "
                      f"{sum(r['method'] == method for r in chosen)} settings")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
