"""``hopt``: hyper-parameter search over the config's `_hopt` specs, one training run per trial.

Backends: ``optuna-tpe`` (default: local, no account; ``--storage sqlite:///hopt.db`` or a postgres URL
lets several machines work on one study, ``--study-name``), ``wandb-bayes`` / ``wandb-random`` (wandb
sweeps: need a wandb server and login; ``--sweep-id`` joins an existing sweep). The backend defaults to
the config's ``hopt_backend``. Every trial is recorded in ``<train-root>/hopt_trials.csv``; the best in
``<train-root>/hopt_best.yaml``, a config patch to add with ``--config``.
"""

from __future__ import annotations

import yaml

from .common import add_train_arguments


def add_hopt_arguments(parser) -> None:
    add_train_arguments(parser)
    parser.add_argument("--backend", choices=("optuna-tpe", "wandb-bayes", "wandb-random"), default=None,
                        help="search backend (default: the config's hopt_backend, optuna-tpe)")
    parser.add_argument("--num-trials", type=int, default=None, help="trials to run here (default num_hopt_trials)")
    parser.add_argument("--storage", default=None,
                        help="optuna storage URL shared by several machines (default: sqlite in the train root)")
    parser.add_argument("--study-name", default="pml-hopt", help="optuna study name (default pml-hopt)")
    parser.add_argument("--sweep-id", default=None, help="wandb: join this sweep instead of creating one")
    parser.add_argument("--project", default="pml-hopt", help="wandb project of the sweep")
    parser.add_argument("--clean", action="store_true", help="delete each trial's run folder after the trial")


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("hopt", help="hyper-parameter search (optuna TPE or wandb sweeps)",
                                   description=__doc__)
    add_hopt_arguments(parser)
    parser.set_defaults(func=run, cval=False)


def run(args) -> int:
    from ..config import compose, parse_config
    from ..experiments import hopt

    import os

    from ..errors import ConfigError

    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise ConfigError("hopt does not run under torchrun (each rank would search on its own); start one hopt "
                          "process per machine or GPU on a shared --storage instead")
    raw = compose(args.config, args.overrides)
    backend = args.backend or parse_config(raw).hopt_backend
    args.train_root.mkdir(parents=True, exist_ok=True)
    if backend == "optuna-tpe":
        storage = args.storage or f"sqlite:///{(args.train_root / 'hopt.db').resolve()}"
        best = hopt.run_optuna(raw, args.train_root, args.data_root, cval=args.cval, num_trials=args.num_trials,
                               storage=storage, study_name=args.study_name, logger=args.logger, clean=args.clean,
                               progress=not args.no_progress)
        print(yaml.safe_dump({"best": best}, sort_keys=False))
    else:
        sweep = hopt.run_wandb_sweep(raw, args.train_root, args.data_root, method=backend.split("-")[1],
                                     project=args.project, cval=args.cval, num_trials=args.num_trials,
                                     sweep_id=args.sweep_id, clean=args.clean, progress=not args.no_progress)
        print(f"wandb sweep {sweep} done")
    return 0
