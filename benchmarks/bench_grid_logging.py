"""What TensorBoard logging, the grid's default, costs a smoke-profile run.

    .venv/bin/python benchmarks/bench_grid_logging.py [--epochs 10] [--repeats 5]

Times, per run, what `train_run` does with a TensorBoard logger beyond the training itself: create the
writer in ``<run>/tensorboard``, log the config, one `log_metrics` per epoch (a history row of the smoke
profile), the hparams with the final metrics, close. Also the one-off import of
``torch.utils.tensorboard`` (once per process, i.e. per notebook) and the size of the logs. The smoke
grid trains 60 runs of 10 epochs; compare with its ~25 minutes.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    probe = "import time; t = time.perf_counter(); import torch.utils.tensorboard; print(time.perf_counter() - t)"
    baseline = "import time; t = time.perf_counter(); import torch; print(time.perf_counter() - t)"
    imports = [float(subprocess.check_output([sys.executable, "-c", code], text=True)) for code in (baseline, probe)]
    print(f"import torch.utils.tensorboard after torch: {imports[1] - imports[0]:+.2f} s once per process "
          f"(torch alone {imports[0]:.2f} s, with tensorboard {imports[1]:.2f} s)")

    from pml_core.config import parse_config
    from pml_core.experiments.grid import run_config_dict
    from pml_core.train.loggers import create_logger

    config = parse_config(run_config_dict("smoke", "glyphs", "pfe-arcface", 128, 0)).to_dict()
    row = {"lr": 0.1, "seconds": 20.0, "train/loss": 2.0, "train/xent": 2.0, "train/grad_norm": 3.0,
           **{f"valid/{k}": 0.5 for k in ("recall@1", "recall@2", "recall@4", "recall@8", "mapr", "erc-recall@1",
                                           "erc-mapr")}}
    final = {f"infer-glyphs/{k}": 0.5 for k in ("recall@1", "mapr", "erc-mapr")}
    hparams = {"seed": 0, "trainer_params.num_epochs": args.epochs, "model_params.distribution_type": "gmm"}
    work = Path(tempfile.mkdtemp(prefix="bench-grid-logging-"))
    seconds, sizes = [], []
    for repeat in range(args.repeats):
        run = work / f"run-{repeat}"
        started = time.perf_counter()
        logger = create_logger("tensorboard", run)
        logger.log_config(config)
        for epoch in range(1, args.epochs + 1):
            logger.log_metrics(row, step=epoch)
        logger.log_hparams(hparams, final)
        logger.close()
        seconds.append(time.perf_counter() - started)
        sizes.append(sum(p.stat().st_size for p in (run / "tensorboard").rglob("*") if p.is_file()))
    shutil.rmtree(work, ignore_errors=True)
    print(f"TensorBoard logging per run ({args.epochs} epochs): median {statistics.median(seconds) * 1000:.0f} ms "
          f"(first {seconds[0] * 1000:.0f} ms, all {', '.join(f'{s * 1000:.0f}' for s in seconds)} ms), "
          f"{statistics.median(sizes) / 1024:.0f} KiB of logs")


if __name__ == "__main__":
    main()
