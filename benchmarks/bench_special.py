"""Benchmark of the device-side log I_v(z) (pml_core.functional.bessel.log_iv).

Times 1e6 evaluations with torch on the CPU against the reference's SciPy path (log(ive(v, z)) + z in
float64), on the GPU when one is present, and reports the maximum relative error against 30-digit
mpmath values on a random subset (orders in [0, 2048], arguments log-uniform in [1e-8, 1e6]).

    .venv/bin/python benchmarks/bench_special.py [--n 1000000] [--subset 300] [--threads 0]
"""

from __future__ import annotations

import argparse
import time

import mpmath
import numpy as np
import scipy.special
import torch

from pml_core.functional.bessel import log_iv


def _best_time(fn, repeats):
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--subset", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    gen = np.random.default_rng(0)
    v = gen.uniform(0, 2048, args.n)
    z = 10 ** gen.uniform(-8, 6, args.n)
    vt, zt = torch.from_numpy(v), torch.from_numpy(z)

    def scipy_path():
        with np.errstate(divide="ignore"):
            return np.log(scipy.special.ive(v, z)) + z

    t_torch = _best_time(lambda: log_iv(vt, zt), args.repeats)
    t_scipy = _best_time(scipy_path, args.repeats)
    ours = log_iv(vt, zt).numpy()
    ref = scipy_path()
    print(f"n = {args.n}, torch threads = {torch.get_num_threads()}")
    print(f"torch CPU log_iv: {t_torch:.3f} s   scipy log(ive)+z: {t_scipy:.3f} s   ratio torch/scipy: {t_torch / t_scipy:.2f}")
    print(f"scipy returns -inf (ive underflow) on {np.isneginf(ref).mean() * 100:.1f}% of the points")

    mpmath.mp.dps = 30
    idx = gen.choice(args.n, args.subset, replace=False)
    exact = np.array([float(mpmath.log(mpmath.besseli(v[i], z[i], maxterms=10**6))) for i in idx])
    rel_ours = np.abs(ours[idx] - exact) / np.abs(exact)
    finite = np.isfinite(ref[idx])
    rel_scipy = np.abs(ref[idx][finite] - exact[finite]) / np.abs(exact[finite])
    print(f"max relative error vs mpmath on {args.subset} points: torch {rel_ours.max():.2e}, "
          f"scipy {rel_scipy.max():.2e} on its {finite.sum()} finite points")

    if torch.cuda.is_available():
        vg, zg = vt.cuda(), zt.cuda()
        log_iv(vg, zg)
        torch.cuda.synchronize()

        def gpu():
            log_iv(vg, zg)
            torch.cuda.synchronize()

        t_gpu = _best_time(gpu, args.repeats)
        err = np.abs(log_iv(vg, zg).cpu().numpy() - ours).max()
        print(f"torch GPU ({torch.cuda.get_device_name()}) log_iv: {t_gpu * 1e3:.2f} ms, max |GPU - CPU| = {err:.2e}")
    else:
        print("no GPU present: GPU timing skipped")


if __name__ == "__main__":
    main()
