"""``grid``: train or reuse every run of a slice of the paper grid (configs/grids/<profile>.yaml defaults)."""

from __future__ import annotations

from pathlib import Path


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
    parser.set_defaults(func=run)


def run(args) -> int:
    from ..data import default_data_root
    from ..experiments.grid import ensure_runs
    from ..report.paper import grid_slice

    slice_ = grid_slice(args.profile, datasets=args.datasets, dims=args.dims, seeds=args.seeds)
    methods = args.methods or list(dict.fromkeys(slice_["methods"] + slice_["variants"]))
    report = ensure_runs(args.profile, slice_["datasets"], methods, slice_["dims"], slice_["seeds"],
                         results_root=args.results_root, data_root=args.data_root or default_data_root(),
                         overrides=args.overrides, progress=not args.no_progress, logger=args.logger)
    print(report.summary())
    return 1 if report.failed else 0
