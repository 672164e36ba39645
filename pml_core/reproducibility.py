"""Reproducible CPU numbers across x86-64 machines: which kernels compute them (README, "Reproducibility
across machines"; BENCHMARKS.md, "Glyphs tuning").

On one machine the kit's CPU runs are bit-identical; across CPUs the same run differs in the last bits of
its first steps and then drifts (a few points of recall@1 after 10 epochs), because the kernel libraries
choose their code per CPU: ATen's vectorised kernels per instruction set (``ATEN_CPU_CAPABILITY``), MKL's
matrix products per ISA and per vendor (``MKL_CBWR``), oneDNN's convolutions per ISA
(``ONEDNN_MAX_CPU_ISA``), and every reduction split over intra-op threads. `PIN` fixes all of them to a
choice every x86-64 CPU with AVX2 (2013 on) supports. The libraries read these variables when they start,
so the pin is an *environment* for a new process (`pinned_environment`): ``./run_all.sh smoke`` and
``python -m pml_core.report.run_notebooks`` start the notebook kernels in it; `current_settings` records
what a process actually ran with (provenance.json, ``cpu_kernels``).
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

#: Set to "1" in an environment built by `pinned_environment`.
FLAG = "PML_REPRODUCIBLE_CPU"

#: The pinned kernel choices: AVX2 everywhere, MKL's vendor-independent path, one intra-op thread.
PIN = {
    "ATEN_CPU_CAPABILITY": "avx2",
    "MKL_CBWR": "COMPATIBLE,STRICT",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}


def pinned_environment(env: dict | None = None) -> dict:
    """A copy of ``env`` (default ``os.environ``) with `PIN` and `FLAG` set (values already there are replaced)."""
    result = dict(os.environ if env is None else env)
    result.update(PIN)
    result[FLAG] = "1"
    return result


def is_pinned(env: dict | None = None) -> bool:
    env = os.environ if env is None else env
    return env.get(FLAG) == "1" and all(env.get(key) == value for key, value in PIN.items())


def apply_from_environment() -> dict | None:
    """In a process started with `pinned_environment`: make torch run as pinned (threads, and oneDNN off when
    ``PML_MKLDNN=0``); returns the settings, or None outside a pinned environment."""
    if os.environ.get(FLAG) != "1":
        return None
    import torch

    if torch.get_num_threads() != int(PIN["OMP_NUM_THREADS"]):
        torch.set_num_threads(int(PIN["OMP_NUM_THREADS"]))
    if os.environ.get("PML_MKLDNN") == "0":
        torch.backends.mkldnn.enabled = False
    return current_settings()


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def current_settings() -> dict:
    """What this process computes with: the CPU, the kernel switches, torch's capability and threads."""
    import torch

    return {
        "cpu": cpu_model(),
        "pinned": is_pinned(),
        "environment": {key: os.environ.get(key) for key in (*PIN, "PML_MKLDNN")},
        "aten_capability": torch.backends.cpu.get_cpu_capability(),
        "threads": torch.get_num_threads(),
        "mkldnn": bool(torch.backends.mkldnn.enabled),
    }


def main(argv: list[str] | None = None) -> int:
    """``python -m pml_core.reproducibility [COMMAND ...]``: run COMMAND in the pinned environment, or print it
    as ``export`` lines for a shell (``eval "$(python -m pml_core.reproducibility)"``)."""
    import shlex
    import sys

    argv = sys.argv[1:] if argv is None else argv
    env = pinned_environment()
    if not argv:
        for key in (*PIN, FLAG):
            print(f"export {key}={shlex.quote(env[key])}")
        return 0
    os.execvpe(argv[0], argv, env)
    return 0  # not reached


if __name__ == "__main__":
    raise SystemExit(main())
