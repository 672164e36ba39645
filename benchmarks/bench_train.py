"""Steps per second of our training loop against a bare PyTorch loop.

    .venv/bin/python benchmarks/bench_train.py [--steps 20] [--batch-size 64] [--repeats 3] [--threads N] [--device cpu]

Glyphs, small_cnn, ArcFace (the embedded default's arcface run). Ours: `StageTrainer.train_epoch` capped
at ``--steps`` batches (no validation). Bare: the same model (same seed), the same data loader, criterion,
optimiser param groups and gradient clipping in a plain ``zero_grad / forward / loss / backward / clip /
step`` loop. Both sides run ``--repeats`` epochs, alternating, after one warm-up epoch each. A step's time
is the interval between two batches leaving the loader (data + compute + bookkeeping); steps/s is
1 / the median step time over all epochs of a side, robust to bursts of load on a shared machine (the
best epoch of each side is printed too). Target: ours >= 0.95x bare.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pml_core.config import parse_config  # noqa: E402
from pml_core.experiments.grid import run_config_dict  # noqa: E402
from pml_core.train.loggers import Logger  # noqa: E402
from pml_core.train.loop import StageTrainer  # noqa: E402
from pml_core.train.optim import build_optimizer  # noqa: E402
from pml_core.utils import seed_everything  # noqa: E402


def machine() -> str:
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem = next(l for l in Path("/proc/meminfo").read_text().splitlines() if l.startswith("MemTotal"))
        ram = f"{int(mem.split()[1]) / 2**20:.0f} GiB"
    except (OSError, StopIteration):
        ram = "?"
    return f"nproc {os.cpu_count()}, {cpu}, RAM {ram}, torch {torch.__version__}, threads {torch.get_num_threads()}"


class Timed:
    """Wraps a loader; records the time each batch is handed out."""

    def __init__(self, loader, stamps: list[float]):
        self.loader, self.stamps = loader, stamps

    def __len__(self):
        return len(self.loader)

    def __iter__(self):
        for batch in self.loader:
            self.stamps.append(time.perf_counter())
            yield batch


def step_times(stamps: list[float]) -> list[float]:
    return [b - a for a, b in zip(stamps, stamps[1:])]


def bare_epoch(trainer: StageTrainer, model, criterion, optimizer, epoch: int, steps: int, clip: float | None,
               stamps: list[float]) -> float:
    """A plain loop over the trainer's own loader of ``epoch``; returns seconds."""
    model.train()
    loader = Timed(trainer._train_loader(epoch), stamps)
    started = time.perf_counter()
    for step, (images, labels) in enumerate(loader):
        if step >= steps:
            break
        images, labels = images.to(trainer.device), labels.to(trainer.device)
        optimizer.zero_grad(set_to_none=True)
        loss, _ = criterion(model(images, labels), labels)
        loss.backward()
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
    if trainer.device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - started


def ours_epoch(trainer: StageTrainer, epoch: int, stamps: list[float]) -> float:
    build = trainer._train_loader
    trainer._train_loader = lambda e, **kw: Timed(build(e, **kw), stamps)
    started = time.perf_counter()
    trainer.train_epoch(epoch)
    trainer._train_loader = build
    if trainer.device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    raw = run_config_dict("smoke", "glyphs", "arcface", 128, 0, [
        f"device={args.device}", f"dataset_params.batch_size={args.batch_size}",
        f"trainer_params.max_steps_per_epoch={args.steps}", "dataset_params.num_workers=0"])
    cfg = parse_config(raw)
    data_root = Path(args.data_root or tempfile.mkdtemp(prefix="bench-train-"))
    train_root = Path(tempfile.mkdtemp(prefix="bench-train-run-"))
    device = torch.device(args.device)
    trainer = StageTrainer(cfg, 0, train_root, data_root, device=device, logger=Logger(), progress=False)

    from pml_core.losses import build_criterion
    from pml_core.model import build_model

    seed_everything(cfg.seed)
    model = build_model(cfg.model_params, num_classes=trainer.datasets.train.num_classes).to(device)
    model.load_state_dict(trainer.model.state_dict())
    criterion = build_criterion(cfg.criterion_params, model)
    optimizer = build_optimizer(model, cfg.trainer_params)
    clip = cfg.trainer_params.gradient_clipping

    ours_epoch(trainer, 0, []), bare_epoch(trainer, model, criterion, optimizer, 0, args.steps, clip, [])  # warm-up
    ours, bare, ours_steps, bare_steps = [], [], [], []
    for repeat in range(args.repeats):
        for side in ("ours", "bare") if repeat % 2 == 0 else ("bare", "ours"):  # alternate who goes first
            stamps: list[float] = []
            if side == "ours":
                ours.append(ours_epoch(trainer, repeat + 1, stamps))
                ours_steps += step_times(stamps)
            else:
                bare.append(bare_epoch(trainer, model, criterion, optimizer, repeat + 1, args.steps, clip, stamps))
                bare_steps += step_times(stamps)
    ours_sps, bare_sps = 1 / float(np.median(ours_steps)), 1 / float(np.median(bare_steps))
    print(f"machine: {machine()}")
    print(f"glyphs / small_cnn / arcface, batch {args.batch_size}, {args.steps} steps, device {args.device}, "
          f"best of {args.repeats}")
    print(f"ours (StageTrainer.train_epoch): {ours_sps:.2f} steps/s median-step   best epoch {args.steps / min(ours):.2f} "
          f"steps/s   (epochs: {', '.join(f'{args.steps / t:.2f}' for t in ours)})")
    print(f"bare PyTorch loop:               {bare_sps:.2f} steps/s median-step   best epoch {args.steps / min(bare):.2f} "
          f"steps/s   (epochs: {', '.join(f'{args.steps / t:.2f}' for t in bare)})")
    print(f"ratio ours / bare: {ours_sps / bare_sps:.3f} median-step, {min(bare) / min(ours):.3f} best-epoch "
          "(target >= 0.95)")


if __name__ == "__main__":
    main()
