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
the outcome of those hyper-parameters). One trial of every study (the first, or the next when the study was
started before this rule) is the family's own values (the method config over the glyphs defaults), enqueued;
for DUL-reg, whose stage 0 is ArcFace's recipe, it is the best of ArcFace's study instead (`WARM_STARTS`).

13 of the 15 main methods are searched, each with the same number of trials. As in the paper's grid
(docs/reference.md, Appendix A), PFE and SCF, whose stage 1 freezes the backbone, take the values of ArcFace's
study (so their stage 0 is the same run and the smoke grid trains it once per seed, `grid.reuse_first_stage`), and
the 5 variants (ablations) those of their main method (vMF-loss-det: vMF-loss; DUL-reg (cont): DUL-reg; the PFE
and SCF variants: ArcFace). ``--methods`` with such a name searches it on its own instead.

``--write-best`` turns each finished study into ``configs/best/<method>-128-glyphs.yaml``: the best trial's
values as `_hopt` constants (the patch `hopt` writes to ``hopt_best.yaml``), headed by the study (trials,
best validation MAP@R, trial seed, command); a variant's file is written from its main method's study. A
summary of every study goes to ``<out>/summary.json``.
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
         "multi-similarity", "dul-cls-arcface", "vmfmm", "dul-reg-arcface"]
# Main methods that take another method's study (the paper's protocol for PFE and SCF).
SOURCES = {"pfe-arcface": "arcface", "scl-arcface": "arcface"}
# Searched methods whose stage 0 is another searched method's recipe: their enqueued first trial is that method's
# best values instead of the family defaults (DUL-reg's stage 0 is ArcFace, whose reference scale 64 / margin 0.5
# does not train the small CNN from scratch: a first DUL-reg study from those defaults found nothing in 12 trials,
# best validation MAP@R 0.041, while ArcFace's best values give DUL-reg 0.36 after stage 1).
WARM_STARTS = {"dul-reg-arcface": "arcface"}
# Search keys a method's study holds at its family value instead of searching, with the reason (BENCHMARKS.md,
# "Glyphs tuning"). SPE with train_epsilon false has epsilon = 0: the product density's variance is then 2/3 of
# the prototype's whatever the variances, and at D = 128 the 16-sample log-mean of 1 / density falls tens of nats
# below its expectation (docs/methods.md, "SPE's epsilon"): the training loss stays near 22. The first SPE
# study's best (validation MAP@R 0.135, epsilon = 0) lost to the same values with epsilon trained (0.223), and the
# paper's own search chose train_epsilon true on all four datasets (configs/best/spe-128-*.yaml).
FIXED = {"spe": ["model_params.classifier_params.train_epsilon"]}
SAMPLER = {"multivariate": True, "n_startup_trials": 8}
PROFILE, DATASET, DIM = "smoke", "glyphs", 128


def smoke_grid() -> dict:
    from pml_core.experiments.grid import profile_grid

    return profile_grid(PROFILE)


def smoke_methods() -> list[str]:
    """The grid's main methods that have their own study, in ORDER."""
    own = [m for m in smoke_grid()["methods"] if m not in SOURCES]
    return sorted(own, key=lambda m: ORDER.index(m) if m in ORDER else len(ORDER))


def source_of(method: str) -> str:
    """The method whose study gives ``method`` its values (itself for a searched main method)."""
    main = main_method_of(method) or method
    return SOURCES.get(main, main)


def main_method_of(variant: str) -> str | None:
    """The main method whose study a variant takes its values from (``ablations`` of the grid; vmf-loss-det)."""
    for main, variants in (smoke_grid().get("ablations") or {}).items():
        if variant in variants:
            return main
    return None


def search_config(method: str) -> dict:
    from pml_core.experiments.grid import run_config_dict

    raw = run_config_dict(PROFILE, DATASET, method, DIM, 0, best=False)
    for key in FIXED.get(method, []):
        drop_search_spec(raw, key)
    return raw


def drop_search_spec(raw: dict, key: str) -> None:
    """Remove the `_hopt` spec of dotted ``key`` (a `hopt.search_specs` key) from the block that holds it (the
    family value then stands); a key no block searches is an error (a stale FIXED entry)."""
    from pml_core.experiments.hopt import search_specs

    for spec in search_specs(raw):
        if spec.key == key:
            node = raw
            for part in spec.node:
                node = node[part]
            del node["_hopt"][spec.name]
            return
    raise SystemExit(f"FIXED: no _hopt block searches {key!r}")


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


def default_values(method: str) -> dict:
    """The searched keys' values in the method's own config (its family defaults), clipped into the ranges."""
    import math as m

    from pml_core.config import parse_config, resolved_dict, stage_config
    from pml_core.experiments.hopt import is_int_spec, search_specs

    raw = search_config(method)
    cfg = parse_config(raw)
    values = {}
    for spec in search_specs(raw):
        node = list(spec.node)
        if node[:1] == ["stages"]:
            tree, node = resolved_dict(stage_config(cfg, node[1])), node[2:]
        else:
            tree = resolved_dict(cfg)
        for part in [*node, *spec.name.split(".")]:
            tree = tree.get(part) if isinstance(tree, dict) else None
        if tree is None or isinstance(tree, dict):
            continue
        s = spec.spec
        if "values" in s:
            if tree in s["values"]:
                values[spec.key] = tree
            continue
        low, high = (m.exp(s["min"]), m.exp(s["max"])) if s.get("distribution") == "log_uniform" else (s["min"], s["max"])
        value = min(max(float(tree), low), high)
        values[spec.key] = int(round(value)) if is_int_spec(s) else value
    return values


def first_values(method: str, out: Path) -> tuple[dict, dict]:
    """The enqueued first trial of ``method``'s study and its user attributes: the family defaults, or the best
    values of the `WARM_STARTS` study its stage 0 repeats (which must be finished)."""
    if method not in WARM_STARTS:
        return default_values(method), {"family_defaults": True}
    source = WARM_STARTS[method]
    summary = study_summary(source, out)
    if summary is None:
        raise SystemExit(f"{method} starts from the best values of {source}: tune {source} first")
    return stage_keys(method, summary["best_params"], source), {"family_defaults": True, "warm_start": source}


def stage_keys(method: str, params: dict, source: str) -> dict:
    """``params`` of a study of ``source`` as the search keys of ``method`` (a single-stage study's model keys
    go to stage 0 of a two-stage method)."""
    from pml_core.experiments.hopt import search_specs

    keys = {spec.key for spec in search_specs(search_config(method))}
    values = {}
    for key, value in params.items():
        target = key if key in keys else f"stages.0.{key}"
        if target not in keys:
            raise SystemExit(f"{method}: the {source} study searched {key!r}, which {method} does not have")
        values[target] = value
    if set(values) != keys:
        raise SystemExit(f"{method}: the {source} study does not set {sorted(keys - set(values))}")
    return values


def tune(method: str, trials: int, out: Path, data_root: str) -> None:
    from pml_core.errors import PMLError
    from pml_core.experiments import hopt

    study, storage, root = open_study(method, out)
    stale = mark_interrupted(study)
    done = len(finished(study))
    if done < trials and not any(t.user_attrs.get("family_defaults") for t in study.get_trials(deepcopy=False)):
        # One trial starts from the family's own values (the same for every method), the others are TPE's.
        values, attrs = first_values(method, out)
        study.enqueue_trial(values, user_attrs=attrs)
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


def best_file_text(method: str, summary: dict, trials: int, source: str | None = None) -> str:
    """The tuned file of ``method`` from ``summary`` (the study of ``source``, default the method itself)."""
    from pml_core.config import dump_yaml
    from pml_core.experiments.hopt import best_patch, search_specs

    raw = search_config(method)
    source = source or method
    patch = best_patch(raw, stage_keys(method, summary["best_params"], source), search_specs(raw))
    header = [] if source == method else [
        f"# The values of the {source} study (the paper's protocol for this method: docs/reference.md, Appendix A)."]
    header += [
        f"# Tuned on glyphs by benchmarks/tune_glyphs.py (BENCHMARKS.md, \"Glyphs tuning\"): Optuna TPE (multivariate,",
        f"# 8 random start-up trials), {summary['trials']} trials ({summary['failed']} failed) on the validation fold "
        f"under the smoke budget",
        f"# (configs/grids/smoke.yaml). Best: trial {summary['best_number']} (seed {summary['best_seed']}), "
        f"validation MAP@R {summary['best_value']:.4f}.",
        *[f"# Not searched (FIXED in the script): {key}, the family value." for key in FIXED.get(source, [])],
        f"# Command: PYTHONPATH=$PWD .venv/bin/python benchmarks/tune_glyphs.py --methods {source} --trials {trials}"
        f" (then the same with --write-best).",
    ]
    return "\n".join(header) + "\n" + dump_yaml(patch)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", nargs="+", default=None,
                        help="default: the smoke grid's main methods (--write-best: and its variants)")
    parser.add_argument("--trials", type=int, default=12)
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
        if args.methods is None:  # every method of the grid: the searched ones, those that take a study, variants
            methods = list(dict.fromkeys(methods + smoke_grid()["methods"] + smoke_grid().get("variants", [])))
        summaries = {}
        for method in methods:
            own = (args.out / method / "study.db").is_file()
            source = method if own else source_of(method)
            summary = study_summary(source, args.out)
            if summary is None or summary["trials"] < args.trials:
                print(f"{method}: study of {source} unfinished ({summary and summary['trials']} of {args.trials} trials); skipped")
                continue
            path = ROOT / "configs" / "best" / f"{method}-{DIM}-{DATASET}.yaml"
            path.write_text(best_file_text(method, summary, args.trials, source))
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
