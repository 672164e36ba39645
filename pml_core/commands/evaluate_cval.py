"""``evaluate-cval``: ``cval`` in ``<train-root>/seed-<s>`` for every evaluation seed, aggregated over seeds."""

from __future__ import annotations

from .common import add_train_arguments, load_config, print_json
from .evaluate import add_protocol_arguments


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("evaluate-cval", help="cval for every evaluation seed, aggregated",
                                   description=__doc__)
    add_train_arguments(parser)
    add_protocol_arguments(parser)
    parser.set_defaults(func=run)


def run(args) -> int:
    from ..experiments.protocols import evaluate_cval

    metrics = evaluate_cval(load_config(args), args.train_root, args.data_root, from_seed=args.from_seed,
                            best_k=args.best_k, logger=args.logger, progress=not args.no_progress)
    print_json(metrics)
    return 0
