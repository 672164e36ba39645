"""Speed and memory of the metrics engine on SOP-sized synthetic data.

    .venv/bin/python benchmarks/bench_metrics.py [--dims 128 512] [--n 60502] [--classes 11316] [--device cpu]

One process, for each D: our full suite (recall@1,2,4,8, mapr, erc-recall@1, erc-mapr) without and
with 10 filter-out bins; pytorch-metric-learning's AccuracyCalculator (precision_at_1 +
mean_average_precision_at_r, k="max_bin_count"); faiss IndexFlatIP search; a bare chunked torch
matmul + topk; exact MLS-scored retrieval of isotropic Gaussians vs cosine. Every time is the best of
``--repeat`` calls (default 3: a shared CPU varies by 20% between calls). Peak memory = peak RSS
(sampled every 5 ms) above the RSS before the calls (the embeddings already allocated).
Targets: suite <= 0.8x AccuracyCalculator and <= 1.3x bare kNN; filter-out bins add <= 30%;
peak memory <= 1 GB above the embeddings; MLS-scored retrieval <= 2x cosine.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import threading
import time

import numpy as np
import psutil
import torch

from pml_core.metrics import isotropic_gaussian_mls, retrieval_metrics
from pml_core.metrics.knn import DEFAULT_MEMORY_BUDGET

SUITE = ("recall", "mapr", "erc-recall@1", "erc-mapr")


def sop_like(n: int, classes: int, dim: int, seed: int = 0):
    """Class sizes in 2..12 (mean n / classes ~ 5.35, decaying like SOP), clustered unit vectors."""
    rng = np.random.default_rng(seed)
    sizes = np.arange(2, 13)
    p = np.exp(-sizes / 2.6)
    p /= p.sum()
    s = rng.choice(sizes, size=classes, p=p)
    while s.sum() != n:  # adjust to the exact total inside [2, 12]
        i = rng.integers(classes)
        if s.sum() < n and s[i] < 12:
            s[i] += 1
        elif s.sum() > n and s[i] > 2:
            s[i] -= 1
    y = np.repeat(np.arange(classes), s)
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(classes, dim, generator=g)
    x = centres[torch.from_numpy(y)] + 1.2 * torch.randn(n, dim, generator=g)
    x = torch.nn.functional.normalize(x, dim=1)
    perm = torch.randperm(n, generator=g)
    conf = torch.rand(n, generator=g, dtype=torch.float64)
    return x[perm].contiguous(), torch.from_numpy(y)[perm].contiguous(), conf


class PeakRSS:
    """Peak resident memory above the start, sampled in a thread."""

    def __enter__(self):
        self.proc = psutil.Process(os.getpid())
        self.base = self.peak = self.proc.memory_info().rss
        self._stop = False
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()
        return self

    def _run(self):
        while not self._stop:
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(0.005)

    def __exit__(self, *exc):
        self._stop = True
        self._t.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)

    @property
    def mb(self) -> float:
        return (self.peak - self.base) / 2**20


def timed(fn, repeat: int = 1):
    best = math.inf
    out = None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t)
    return best, out


def bare_knn(x: torch.Tensor, k: int):
    """Query chunks whose full-width score matrix fills the default budget; one matmul + topk each."""
    rows = max(1, DEFAULT_MEMORY_BUDGET // (x.shape[0] * 5))
    out = []
    for s in range(0, x.shape[0], rows):
        out.append(torch.topk(x[s:s + rows] @ x.T, k, dim=1).indices)
    return torch.cat(out)


def faiss_knn(x: torch.Tensor, k: int):
    import faiss

    xn = np.ascontiguousarray(x.cpu().numpy())
    index = faiss.IndexFlatIP(xn.shape[1])
    index.add(xn)
    return index.search(xn, k)


def pml_accuracy(x: torch.Tensor, y: torch.Tensor):
    from pytorch_metric_learning.utils.accuracy_calculator import AccuracyCalculator

    calc = AccuracyCalculator(include=("precision_at_1", "mean_average_precision_at_r"), k="max_bin_count")
    return calc.get_accuracy(x, y, x, y, ref_includes_query=True)


def bench(dim: int, n: int, classes: int, device: str, repeat: int) -> dict:
    x, y, conf = sop_like(n, classes, dim)
    x, y, conf = x.to(device), y.to(device), conf.to(device)
    k = int(torch.bincount(y).max()) + 1
    res = {}
    with PeakRSS() as mem:
        res["suite"], suite = timed(lambda: retrieval_metrics(x, y, conf, metrics=SUITE), repeat)
    res["suite_mem_mb"] = mem.mb
    with PeakRSS() as mem10:
        res["suite+10bins"], suite10 = timed(lambda: retrieval_metrics(x, y, conf, metrics=SUITE, num_filter_out_bins=10), repeat)
    res["suite10_mem_mb"] = mem10.mb
    res["bare"], _ = timed(lambda: bare_knn(x, k), repeat)
    res["faiss"], _ = timed(lambda: faiss_knn(x, k), repeat)
    res["pml"], pml = timed(lambda: pml_accuracy(x, y), repeat)
    var = 0.05 + 0.1 * torch.rand(n, device=device)
    params = torch.cat([x, var[:, None]], 1)
    res["mls"], mls = timed(lambda: retrieval_metrics(params, y, conf, metrics=SUITE, scorer=isotropic_gaussian_mls), repeat)
    res["recall@1"], res["pml_p@1"] = suite["recall@1"], pml["precision_at_1"]
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dims", type=int, nargs="+", default=[128, 512])
    ap.add_argument("--n", type=int, default=60502)
    ap.add_argument("--classes", type=int, default=11316)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeat", type=int, default=3, help="best of this many calls for every timing")
    args = ap.parse_args()
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, nproc {os.cpu_count()}, "
          f"{platform.processor() or platform.machine()}, RAM {psutil.virtual_memory().total / 2**30:.1f} GiB, "
          f"N={args.n}, classes={args.classes}, device={args.device}, best of {args.repeat}")
    for d in args.dims:
        r = bench(d, args.n, args.classes, args.device, args.repeat)
        print(f"\nD={d}: seconds suite {r['suite']:.2f} | suite+10 bins {r['suite+10bins']:.2f} | "
              f"bare kNN {r['bare']:.2f} | faiss IndexFlatIP {r['faiss']:.2f} | AccuracyCalculator {r['pml']:.2f} | "
              f"MLS suite {r['mls']:.2f}")
        print(f"  recall@1 {r['recall@1']:.4f} (PML precision_at_1 {r['pml_p@1']:.4f})")
        print(f"  suite / AccuracyCalculator = {r['suite'] / r['pml']:.2f} (target <= 0.8)")
        print(f"  suite / bare kNN           = {r['suite'] / r['bare']:.2f} (target <= 1.3)")
        print(f"  10 filter-out bins add     = {100 * (r['suite+10bins'] / r['suite'] - 1):.0f}% (target <= 30%)")
        print(f"  peak RSS above inputs      = {r['suite_mem_mb']:.0f} MB, with bins {r['suite10_mem_mb']:.0f} MB "
              f"(target <= 1024 MB)")
        print(f"  MLS / cosine               = {r['mls'] / r['suite']:.2f} (target <= 2)")


if __name__ == "__main__":
    main()
