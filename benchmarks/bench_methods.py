"""MAP@R and Recall@1 of the 15 main methods on glyphs (smoke profile, 128-D, 2 seeds).

    python benchmarks/bench_methods.py --results-root /tmp/bench-methods --data-root /tmp/data [--set k=v ...]
        [--methods arcface,cosface] [--seeds 0,1] [--dim 128] [--full]

Runs (or reuses) the grid slice through `pml_core.experiments.grid.ensure_runs("smoke", ["glyphs"], ...)` and prints a
markdown table of the mean over seeds on the test set `infer-glyphs`, with the final training loss and wall time.
Without ``--full`` it applies the short settings of BENCHMARKS.md (``SHORT``) so that 30 runs fit in about half an
hour of a shared 2-core CPU; ``--set`` adds further overrides.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

MAIN_METHODS = ["arcface", "cosface", "nsoftmax", "proxy-anchor", "proxy-nca", "multi-similarity", "dsml", "vmf-loss",
                "dul-cls-arcface", "hib", "spe", "vmfmm", "pfe-arcface", "scl-arcface", "dul-reg-arcface"]
# Short settings (BENCHMARKS.md says so): 3 epochs of 15 steps per stage, one evaluation seed, no lossy/pair test sets.
SHORT = ["trainer_params.num_epochs=3", "trainer_params.max_steps_per_epoch=15", "num_evaluation_seeds=1",
         "dataset_params.add_lossy_testsets=false", "dataset_params.add_verification_testsets=false"]


def table(results_root: Path, methods: list[str], dim: int, seeds: list[int]) -> str:
    from pml_core.experiments import runstore

    lines = ["| method | MAP@R | Recall@1 | seeds | final train loss (per seed) | wall s / run |", "|---|---|---|---|---|---|"]
    for method in methods:
        maprs, r1s, losses, walls = [], [], [], []
        for seed in seeds:
            path = runstore.run_dir(results_root, "smoke", "glyphs", method, dim, seed)
            if not runstore.is_complete(path):
                continue
            metrics = runstore.read_metrics(path)["infer-glyphs"]
            maprs.append(metrics["mapr"])
            r1s.append(metrics["recall@1"])
            history = runstore.read_history(path)
            losses.append(history[-1]["train/loss"] if history else math.nan)
            walls.append(json.loads((path / "provenance.json").read_text())["wall_seconds"])
        if not maprs:
            lines.append(f"| {method} | - | - | 0 | - | - |")
            continue
        mean = lambda values: sum(values) / len(values)  # noqa: E731
        lines.append(f"| {method} | {mean(maprs):.4f} | {mean(r1s):.4f} | {len(maprs)} | "
                     f"{', '.join(f'{v:.3g}' for v in losses)} | {mean(walls):.0f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results-root", required=True)
    parser.add_argument("--data-root", required=True)
    parser.add_argument("--methods", default=",".join(MAIN_METHODS))
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--full", action="store_true", help="smoke profile as it is (12 epochs, all test sets)")
    parser.add_argument("--table-only", action="store_true")
    args = parser.parse_args()

    import torch

    from pml_core.experiments.grid import ensure_runs

    torch.set_num_threads(1)
    methods = args.methods.split(",")
    seeds = [int(s) for s in args.seeds.split(",")]
    overrides = ([] if args.full else SHORT) + args.overrides
    if not args.table_only:
        started = time.perf_counter()
        for method in methods:  # one method at a time, so that the table fills as it goes
            report = ensure_runs("smoke", ["glyphs"], [method], [args.dim], seeds, results_root=args.results_root,
                                 data_root=args.data_root, overrides=overrides)
            print(f"{method}: {report.summary()} ({time.perf_counter() - started:.0f} s so far)", flush=True)
    print(f"overrides: {overrides}")
    print(table(Path(args.results_root), methods, args.dim, seeds))


if __name__ == "__main__":
    main()
