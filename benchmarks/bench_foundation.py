"""Foundation timings: glyph generation, one smoke training run, a misspelled config key.

    .venv/bin/python benchmarks/bench_foundation.py [--method arcface] [--out DIR]

Prints seconds for each step and the trained/untrained MAP@R of the run; BENCHMARKS.md records them.
(`./run_all.sh setup` on a fresh clone and the whole `./run_all.sh` are timed with `time` from the shell.)
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--method", default="arcface")
    parser.add_argument("--out", default=None, help="working folder (default: a temporary one)")
    args = parser.parse_args()
    work = Path(args.out or tempfile.mkdtemp(prefix="bench-foundation-"))
    shutil.rmtree(work / "data", ignore_errors=True)

    from pml_core.config import GlyphsParams
    from pml_core.data import load_glyphs

    started = time.perf_counter()
    load_glyphs(GlyphsParams(), work / "data")
    generation = time.perf_counter() - started
    started = time.perf_counter()
    load_glyphs(GlyphsParams(), work / "data")
    cached = time.perf_counter() - started
    print(f"glyphs (320 classes x 24 images): generated in {generation:.1f} s, cached load {cached:.2f} s")

    typo = work / "typo.yaml"
    typo.write_text("trainer_params:\n  optimiser_type: sgd\n")
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "pml_core", "train", "--config", str(typo), "--train-root",
                             str(work / "typo-run"), str(work / "data")], capture_output=True, text=True, cwd=ROOT)
    print(f"misspelled key rejected in {time.perf_counter() - started:.2f} s: {result.stderr.strip()}")

    from pml_core.config import parse_config
    from pml_core.experiments.explore import untrained_metrics
    from pml_core.experiments.grid import run_config_dict
    from pml_core.experiments.run import train_run

    run = work / f"{args.method}-smoke"
    shutil.rmtree(run, ignore_errors=True)
    cfg = parse_config(run_config_dict("smoke", "glyphs", args.method, 128, 0))
    started = time.perf_counter()
    metrics = train_run(cfg, run, work / "data", logger="none", progress=False)
    seconds = time.perf_counter() - started
    baseline = untrained_metrics(run, work / "data")
    trained, untrained = metrics["infer-glyphs"], baseline["infer-glyphs"]
    print(f"one smoke run ({args.method}, 128-D, {metrics['selection']['epochs_run']} epochs): {seconds:.0f} s")
    print(f"  test MAP@R {trained['mapr']:.4f} (untrained {untrained['mapr']:.4f}), "
          f"Recall@1 {trained['recall@1']:.4f} (untrained {untrained['recall@1']:.4f})")


if __name__ == "__main__":
    main()
