"""``cval``: one run per validation fold in ``<train-root>/fold-<i>`` (``validation_fold=i``, ``seed=seed+i``),
aggregated as mean and ``<metric>_std`` (population) in ``<train-root>/metrics.json``."""

from __future__ import annotations

from .common import add_train_arguments, load_config, print_json


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("cval", help="one run per validation fold, aggregated", description=__doc__)
    add_train_arguments(parser)
    parser.set_defaults(func=run)


def run(args) -> int:
    from ..experiments.protocols import cross_validate

    metrics = cross_validate(load_config(args), args.train_root, args.data_root, logger=args.logger,
                             progress=not args.no_progress)
    print_json(metrics)
    return 0
