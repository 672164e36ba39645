"""Wall time of a grid slice with 1, 2 and 4 local workers, and the count of runs trained.

    .venv/bin/python benchmarks/bench_grid_workers.py [--profile tiny|smoke] [--workers 1 2 4] [--set KEY=VALUE ...]

Each worker count trains the profile's whole grid (configs/grids/<profile>.yaml) from an empty results folder
with ``python -m pml_core grid --workers N`` (CPU), after one warm-up run that generates the glyphs cache.
Trained is the number of training attempts recorded in the run folders (``attempts.jsonl``, one line per
attempt): it must equal the grid size (every run trained exactly once). The load average before and after
each row is printed beside it, since a shared machine's load changes the times; the metrics of every
worker count are checked byte-identical to the first row's. Prints a markdown table for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pml_core.experiments import claim, runstore  # noqa: E402
from pml_core.report.paper import grid_slice  # noqa: E402


def load() -> str:
    return " ".join(f"{value:.1f}" for value in os.getloadavg())


def grid_runs(root: Path, profile: str) -> list[Path]:
    slice_ = grid_slice(profile)
    methods = list(dict.fromkeys(slice_["methods"] + slice_["variants"]))
    return [runstore.run_dir(root, profile, d, m, dim, s) for d in slice_["datasets"] for m in methods
            for dim in slice_["dims"] for s in slice_["seeds"]]


def grid(profile: str, workers: int, root: Path, data_root: Path, overrides: list[str], **kwargs) -> float:
    command = [sys.executable, "-m", "pml_core", "grid", "--profile", profile, "--no-progress", "--workers",
               str(workers), "--results-root", str(root), "--data-root", str(data_root)]
    command += [arg for item in overrides for arg in ("--set", item)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    started = time.perf_counter()
    subprocess.run(command + kwargs.get("extra", []), cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="tiny", choices=["tiny", "smoke"])
    parser.add_argument("--workers", nargs="+", type=int, default=[1, 2, 4])
    parser.add_argument("--set", action="append", default=[], dest="overrides", metavar="KEY=VALUE")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-grid-workers-") as scratch:
        scratch = Path(scratch)
        data_root = scratch / "data"
        grid(args.profile, 1, scratch / "warmup", data_root, args.overrides,
             extra=["--methods", grid_slice(args.profile)["methods"][0], "--seeds", "0"])
        print(f"# grid --workers N, profile {args.profile}, {time.strftime('%Y-%m-%d %H:%M')}, "
              f"{platform.node()}: nproc {os.cpu_count()}, {platform.processor() or platform.machine()}")
        print("\n| workers | wall time (s) | runs trained / grid size | metrics = first row | load before | load after |")
        print("|---|---|---|---|---|---|")
        reference: dict[Path, bytes] = {}
        for workers in args.workers:
            root = scratch / f"workers-{workers}"
            before = load()
            seconds = grid(args.profile, workers, root, data_root, args.overrides)
            after = load()
            runs = grid_runs(root, args.profile)
            trained = sum(len(claim.read_attempts(run)) for run in runs)
            metrics = {run.relative_to(root): (run / "metrics.json").read_bytes() for run in runs}
            reference = reference or metrics
            same = "yes" if metrics == reference else "NO"
            print(f"| {workers} | {seconds:.0f} | {trained} / {len(runs)} | {same} | {before} | {after} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
