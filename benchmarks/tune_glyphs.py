"""Tune every method of the smoke grid on glyphs with the kit's own `hopt` (BENCHMARKS.md, "Glyphs tuning").

    PYTHONPATH=$PWD .venv/bin/python benchmarks/tune_glyphs.py [--methods hib ...] [--trials 20] [--threads 1]
        [--out benchmarks/out/tune] [--data-root DIR]          # run (or resume) the studies
    PYTHONPATH=$PWD .venv/bin/python benchmarks/tune_glyphs.py --write-best [--methods ...]
                                                               # write configs/best/<method>-128-glyphs.yaml

For each method: the config a grid run of the smoke profile composes (base <- glyphs <- method <- smoke profile,
the grid's stage split; *without* the method's current glyphs file), searched by
`pml_core.experiments.hopt.run_optuna` (Optuna TPE, multivariate, the first 8 trials random) over the `_hopt`
specs it holds: the family's own (scale, margin, ...) and the glyphs learning rates and optimiser of
`configs/datasets/glyphs.yaml`. Every trial trains one run under the smoke budget on the training classes and
scores its validation MAP@R (fold 0); trial seeds are drawn by `hopt.trial_seed`. Each method has its own
Optuna storage (``<out>/<method>/study.db``), so an interrupted search resumes where it stopped: a trial
killed half-way is marked failed with the user attribute ``interrupted`` and not counted; the study runs
until ``--trials`` trials have finished (completed, or failed with a non-finite loss, which counts: it is
the outcome of those hyper-parameters).

``--write-best`` turns each finished study into ``configs/best/<method>-128-glyphs.yaml``: the best trial's
values as `_hopt` constants (the patch `hopt` writes to ``hopt_best.yaml``), headed by the study (trials,
best validation MAP@R, trial seed, command). A summary of every study goes to ``<out>/summary.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# The failing families of the untuned smoke tables first, then the other main methods, then the variants.
ORDER = ["hib", "proxy-anchor", "dsml", "spe", "vmf-loss", "arcface", "cosface", "nsoftmax", "proxy-nca",
         "multi-similarity", "dul-cls-arcface", "vmfmm", "pfe-arcface", "scl-arcface", "dul-reg-arcface",
         "vmf-loss-det", "pfe-nms-arcface", "pfe-vmf-arcface", "scl-gmm-arcface", "dul-reg-cont-arcface"]
SAMPLER = {"multivariate": True, "n_startup_trials": 8}
PROFILE, DATASET, DIM = "smoke", "glyphs", 128


def smoke_methods() -> list[str]:
    from pml_core.experiments.grid import profile_grid

    grid = profile_grid(PROFILE)
    methods = list(dict.fromkeys(grid["methods"] + grid.get("variants", [])))
    return sorted(methods, key=lambda m: ORDER.index(m) if m in ORDER else len(ORDER))


def search_config(method: str) -> dict:
    from pml_core.experiments.grid import run_config_dict

    return run_config_dict(PROFILE, DATASET, method, DIM, 0, best=False)


def open_study(method: str, out: Path):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    root = out / method
    root.mkdir(parents=True, exist_ok=True)
    storage = f"sqlite:///{(root / 'study.db').resolve()}"
    study = optuna.create_study(storage=storage, study_name=method, direction="maximize", load_if_exists=True)
    return study, storage, root


def finished(study) -> list:
    """Trials that count: completed, or failed by the run itself (not interrupted)."""
    from optuna.trial import TrialState

    return [t for t in study.get_trials(deepcopy=False)
            if t.state == TrialState.COMPLETE
            or (t.state == TrialState.FAIL and not t.user_attrs.get("interrupted"))]


def mark_interrupted(study) -> int:
    """Trials left RUNNING by a killed process become FAIL + ``interrupted`` (one search process at a time)."""
    from optuna.trial import TrialState

    stale = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.RUNNING]
    for trial in stale:
        study._storage.set_trial_user_attr(trial._trial_id, "interrupted", True)
        study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
    return len(stale)


def tune(method: str, trials: int, out: Path, data_root: str) -> None:
    from pml_core.errors import PMLError
    from pml_core.experiments import hopt

    study, storage, root = open_study(method, out)
    stale = mark_interrupted(study)
    done = len(finished(study))
    print(f"[{time.strftime('%H:%M:%S')}] {method}: {done} of {trials} trials done"
          + (f" ({stale} interrupted trial(s) marked failed)" if stale else ""), flush=True)
    while done < trials:
        started = time.perf_counter()
        seed = zlib.crc32(method.encode()) + done  # resumed studies stay reproducible from the same history
        try:
            hopt.run_optuna(search_config(method), root, data_root, num_trials=1, storage=storage, study_name=method,
                            logger="none", clean=True, progress=False, sampler_options={**SAMPLER, "seed": seed})
        except PMLError:  # "no trial completed yet": the study's trials so far all failed; go on
            pass
        last = study.get_trials(deepcopy=False)[-1]
        done = len(finished(study))
        print(f"[{time.strftime('%H:%M:%S')}] {method} trial {last.number}: {last.state.name} value {last.value} "
              f"({time.perf_counter() - started:.0f} s) {last.user_attrs.get('values')}", flush=True)


def study_summary(method: str, out: Path) -> dict | None:
    study, _, root = open_study(method, out)
    counted = finished(study)
    complete = [t for t in counted if t.value is not None and math.isfinite(t.value)]
    if not complete:
        return None
    best = max(complete, key=lambda t: t.value)
    return {"method": method, "trials": len(counted), "failed": len(counted) - len(complete),
            "best_number": best.number, "best_value": best.value, "best_seed": best.user_attrs.get("seed"),
            "best_params": best.user_attrs.get("values"),
            "values": [t.value for t in sorted(counted, key=lambda t: t.number)]}


def best_file_text(method: str, summary: dict, trials: int) -> str:
    from pml_core.config import dump_yaml
    from pml_core.experiments.hopt import best_patch, search_specs

    raw = search_config(method)
    patch = best_patch(raw, summary["best_params"], search_specs(raw))
    header = [
        f"# Tuned on glyphs by benchmarks/tune_glyphs.py (BENCHMARKS.md, \"Glyphs tuning\"): Optuna TPE (multivariate,",
        f"# 8 random start-up trials), {summary['trials']} trials ({summary['failed']} failed) on the validation fold "
        f"under the smoke budget",
        f"# (configs/grids/smoke.yaml). Best: trial {summary['best_number']} (seed {summary['best_seed']}), "
        f"validation MAP@R {summary['best_value']:.4f}.",
        f"# Command: PYTHONPATH=$PWD .venv/bin/python benchmarks/tune_glyphs.py --methods {method} --trials {trials}"
        f" && ... --write-best --methods {method}",
    ]
    return "\n".join(header) + "\n" + dump_yaml(patch)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", nargs="+", default=None, help="default: the smoke grid's methods and variants")
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (fixed: results do not depend on load)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "tune")
    parser.add_argument("--data-root", default=None, help="default: $PML_DATA_ROOT or the kit's cache")
    parser.add_argument("--write-best", action="store_true", help="write configs/best/<method>-128-glyphs.yaml")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    from pml_core.data import default_data_root

    methods = args.methods or smoke_methods()
    if args.write_best:
        summaries = {}
        for method in methods:
            summary = study_summary(method, args.out)
            if summary is None or summary["trials"] < args.trials:
                print(f"{method}: study unfinished ({summary and summary['trials']} of {args.trials} trials); skipped")
                continue
            path = ROOT / "configs" / "best" / f"{method}-{DIM}-{DATASET}.yaml"
            path.write_text(best_file_text(method, summary, args.trials))
            summaries[method] = summary
            print(f"{method}: best valid MAP@R {summary['best_value']:.4f} (trial {summary['best_number']}) -> {path.name}")
        existing = json.loads((args.out / "summary.json").read_text()) if (args.out / "summary.json").is_file() else {}
        (args.out / "summary.json").write_text(json.dumps({**existing, **summaries}, indent=1))
        return 0
    data_root = args.data_root or str(default_data_root())
    print(f"tune_glyphs: {len(methods)} methods x {args.trials} trials, {torch.get_num_threads()} thread(s), "
          f"load {os.getloadavg()}", flush=True)
    for method in methods:
        tune(method, args.trials, args.out, data_root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
