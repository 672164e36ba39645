"""``cval``: one run per validation fold in ``<train-root>/fold-<i>`` (``validation_fold=i``, ``seed=seed+i``),
aggregated as mean and ``<metric>_std`` (population) in ``<train-root>/metrics.json``."""

from __future__ import annotations

from .common import (add_launcher_arguments, add_train_arguments, add_wait_argument,
                     run_protocol_command)


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("cval", help="one run per validation fold, aggregated", description=__doc__)
    add_train_arguments(parser)
    add_wait_argument(parser)
    add_launcher_arguments(parser)
    parser.set_defaults(func=run)


def run(args) -> int:
    return run_protocol_command(args, "cval")
