"""Where the time of one smoke run goes: data, forward/backward/step, validation, test, setup.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/profile_smoke_run.py [--method arcface] [--seed 0] [--threads 2]
        [--data-root DIR] [--set KEY=VALUE ...]

Trains one run of the smoke grid (``configs/profiles/smoke.yaml`` and the method's glyphs config) into a
temporary folder and prints the wall time of each part, measured by wrapping the loop's own functions:
``build_datasets`` (glyph arrays, splits, lossy and pair sets), the initialiser, the train loader (a batch's
images built and augmented: the time between asking the loader for a batch and getting it), the optimisation
step (forward, loss, backward, clipping, optimiser), per-epoch validation, checkpoint writes and the final test
(every test set embedded and scored). The rest is reported as "other". Numbers from a shared machine are only
indicative: the script prints the load average before and after.
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--method", default="arcface")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--profile", default="smoke")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--set", action="append", default=[], dest="overrides", metavar="KEY=VALUE")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    from pml_core import data as data_module
    from pml_core import initializer
    from pml_core.config import parse_config
    from pml_core.data import default_data_root
    from pml_core.experiments import run as run_module
    from pml_core.experiments.grid import run_config_dict
    from pml_core.train import checkpoint, loop

    times: dict[str, float] = collections.defaultdict(float)
    counts: dict[str, int] = collections.Counter()

    def timed(owner, name: str, label: str):
        original = getattr(owner, name)

        def wrapper(*a, **k):
            started = time.perf_counter()
            try:
                return original(*a, **k)
            finally:
                times[label] += time.perf_counter() - started
                counts[label] += 1

        setattr(owner, name, wrapper)

    class TimedLoader:
        def __init__(self, loader):
            self.loader = loader

        def __len__(self):
            return len(self.loader)

        def __iter__(self):
            iterator = iter(self.loader)
            while True:
                started = time.perf_counter()
                try:
                    batch = next(iterator)
                except StopIteration:
                    times["train batches (data + augmentation)"] += time.perf_counter() - started
                    return
                times["train batches (data + augmentation)"] += time.perf_counter() - started
                counts["train batches (data + augmentation)"] += 1
                yield batch

    trainer = loop.StageTrainer
    original_loader = trainer._train_loader
    trainer._train_loader = lambda self, epoch, sharded=True: TimedLoader(original_loader(self, epoch, sharded))
    timed(trainer, "_step", "step (forward, loss, backward, optimiser)")
    timed(trainer, "validate", "validation (every epoch)")
    timed(trainer, "__init__", "build model / optimiser / datasets (stage)")  # includes the two below
    timed(data_module, "build_datasets", "build datasets")
    timed(initializer, "initialize_model", "initialiser")
    timed(checkpoint, "save_checkpoint", "checkpoint writes")
    timed(run_module, "test_checkpoint", "test (every test set)")

    raw = run_config_dict(args.profile, "glyphs", args.method, args.dim, args.seed, args.overrides)
    cfg = parse_config(raw)
    data_root = args.data_root or default_data_root()
    print(f"load before: {os.getloadavg()}; threads {torch.get_num_threads()}; method {args.method}")
    with tempfile.TemporaryDirectory() as folder:
        started, cpu_started = time.perf_counter(), time.process_time()
        metrics = run_module.train_run(cfg, Path(folder) / "run", data_root, logger="none", progress=False)
        total, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    print(f"load after: {os.getloadavg()}")
    stage_build = times.pop("build model / optimiser / datasets (stage)")
    accounted = stage_build + sum(v for k, v in times.items() if k not in ("build datasets", "initialiser"))
    print(f"\n{'part':48s} {'seconds':>8s} {'share':>6s} {'calls':>6s}")
    for label, value in sorted(times.items(), key=lambda kv: -kv[1]):
        print(f"{label:48s} {value:8.1f} {value / total:6.1%} {counts[label]:6d}")
    print(f"{'stage setup (incl. datasets + initialiser)':48s} {stage_build:8.1f} {stage_build / total:6.1%}")
    print(f"{'other (loop bookkeeping, run store)':48s} {total - accounted:8.1f} {(total - accounted) / total:6.1%}")
    print(f"{'total':48s} {total:8.1f}")
    print(f"{'process CPU time (all threads)':48s} {cpu:8.1f}")
    sets = {k: v for k, v in metrics.items() if isinstance(v, dict) and "recall@1" in v}
    print("recall@1:", {k: round(v["recall@1"], 4) for k, v in sets.items()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
