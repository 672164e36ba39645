"""``grid``: train or reuse every run of a slice of the paper grid (configs/grids/<profile>.yaml defaults).

Completed runs are reused; a run that fails is marked and reported, and a rerun reports it again
without retrying it (``--retry-failed`` retries the failed runs of the slice). ``--workers N`` trains N
runs at once (local processes, one GPU each with ``--set device=cuda``); ``--launcher slurm`` submits a
job array of N workers and returns; ``--status`` prints what is done, running (and where), failed and
pending. Any number of grid commands may work on one results folder: each run is trained once.
"""

from __future__ import annotations

from pathlib import Path

from .common import add_launcher_arguments, launch_options


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("grid", help="run or resume a slice of the paper grid", description=__doc__)
    parser.add_argument("--profile", default="smoke", help="tiny | smoke | paper (configs/profiles/)")
    parser.add_argument("--datasets", nargs="+", default=None, help="default: the profile's grid")
    parser.add_argument("--methods", nargs="+", default=None, help="default: the grid's methods and variants")
    parser.add_argument("--dims", nargs="+", type=int, default=None)
    parser.add_argument("--seeds", nargs="+", type=int, default=None)
    parser.add_argument("--data-root", type=Path, default=None, help="default: $PML_DATA_ROOT or ~/.cache/pml-kit/data")
    parser.add_argument("--results-root", type=Path, default=Path("results"))
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                        help="override a key in every run, e.g. --set device=cuda")
    parser.add_argument("--logger", default="tensorboard",
                        help="tensorboard (default: <run>/tensorboard) | none | wandb:<project>:<experiment>")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--status", action="store_true",
                        help="print done / running (by whom) / failed / pending per dataset and method; train nothing")
    parser.add_argument("--retry-failed", action="store_true",
                        help="retry the runs whose last attempt failed (a plain rerun reports them, not retrying)")
    add_launcher_arguments(parser)
    parser.set_defaults(func=run)


def run(args) -> int:
    from ..report.paper import grid_slice

    slice_ = grid_slice(args.profile, datasets=args.datasets, dims=args.dims, seeds=args.seeds)
    methods = args.methods or list(dict.fromkeys(slice_["methods"] + slice_["variants"]))
    if args.status:
        from ..experiments.grid import GridQueue
        from ..experiments.status import queue_status, status_text

        queue = GridQueue(args.profile, tuple(slice_["datasets"]), tuple(methods), tuple(slice_["dims"]),
                          tuple(slice_["seeds"]), args.results_root, tuple(args.overrides))
        queue.check_names()
        print(status_text(queue_status(queue)))
        return 0
    from ..data import default_data_root
    from ..experiments.grid import ensure_runs

    report = ensure_runs(args.profile, slice_["datasets"], methods, slice_["dims"], slice_["seeds"],
                         results_root=args.results_root, data_root=args.data_root or default_data_root(),
                         overrides=args.overrides, progress=not args.no_progress, logger=args.logger,
                         launch=launch_options(args), retry_failed=args.retry_failed,
                         verbose=True)
    print(report.summary())
    return 1 if report.failed else 0
